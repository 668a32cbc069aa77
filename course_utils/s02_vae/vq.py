r"""VQ-VAE: a codebook, nearest-codeword quantization, the straight-through gradient and the
three-term loss (lecture: "Learning discrete distributions: VQ-VAE").

Taught in notebook ``02_vae``. The encoder gives :math:`z_e(x)`: M vectors of dimension C per
digit, shape (batch, M, C). Each is replaced by its nearest codeword of a codebook
:math:`e \in \mathbb R^{K \times C}`: :math:`k = \arg\min_k \|z_e - e_k\|^2`,
:math:`z_q = e_k`. The argmin has no gradient, so the decoder's gradient with respect to
:math:`z_q` is copied to :math:`z_e` (straight-through): :math:`z_q = z_e + sg(e_k - z_e)`.
The loss of the slide, with sg the stop-gradient (``.detach()``):

.. math::
    L = \|x - \mathrm{Dec}(z_q(x))\|^2 + \|sg(z_e(x)) - z_q(x)\|^2 + \beta\, \|z_e(x) - sg(z_q(x))\|^2

the first trains decoder and encoder, the second the codebook, the third (commitment) the encoder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..core.fit import fit
from ..core.threads import one_thread
from ..core.validation import as_tensor
from ..data.digits import minibatches

__all__ = [
    "Quantized",
    "VQTerms",
    "nearest_codeword",
    "quantize",
    "vq_loss",
    "codebook_usage",
    "perplexity",
    "VQVAE",
    "VQRun",
    "train_vqvae",
    "small_vqvae",
]


class Quantized(NamedTuple):
    """The quantizer's output: ``z_q`` (straight-through, same shape as z_e) and ``indices`` (z_e.shape[:-1])."""

    z_q: Tensor
    indices: Tensor


class VQTerms(NamedTuple):
    """The three terms of the VQ-VAE loss, each a batch mean of per-digit squared norms (scalars)."""

    recon: Tensor
    codebook: Tensor
    commitment: Tensor

    @property
    def total(self) -> Tensor:
        return self.recon + self.codebook + self.commitment


def _check_codebook(z_e, codebook) -> tuple[Tensor, Tensor]:
    z_e, codebook = as_tensor(z_e, "z_e"), as_tensor(codebook, "codebook")
    if codebook.ndim != 2 or codebook.shape[0] == 0:
        raise ValueError(f"codebook must have shape (K, C) with K >= 1 codewords, got {tuple(codebook.shape)}")
    if z_e.ndim < 1 or z_e.shape[-1] != codebook.shape[1]:
        raise ValueError(f"z_e must have shape (..., C) with C = {codebook.shape[1]} (the codewords' size), "
                         f"got {tuple(z_e.shape)}")
    return z_e, codebook


def nearest_codeword(z_e, codebook) -> Tensor:
    r""":math:`k = \arg\min_k \|z_e - e_k\|^2` for every vector of ``z_e``.

    Args:
        z_e: encoder outputs, shape (..., C).
        codebook: codewords, shape (K, C).

    Returns:
        Indices, shape (...), int64.
    """
    z_e, codebook = _check_codebook(z_e, codebook)
    d2 = (z_e.unsqueeze(-2) - codebook).pow(2).sum(-1)  # (..., K)
    return d2.argmin(-1)


def quantize(z_e, codebook) -> Quantized:
    r"""Nearest-codeword quantization with the straight-through gradient.

    .. math:: z_q = z_e + sg(e_k - z_e), \qquad k = \arg\min_k \|z_e - e_k\|^2

    The value of :math:`z_q` is :math:`e_k`; its gradient flows to :math:`z_e` unchanged
    (:math:`\partial z_q / \partial z_e = I`), and not to the codebook (the codebook term of
    :func:`vq_loss` trains it).

    Args:
        z_e: encoder outputs, shape (..., C).
        codebook: codewords, shape (K, C).

    Returns:
        :class:`Quantized` (z_q of z_e's shape, indices of shape z_e.shape[:-1]).

    Graded in exercise 2.5 (notebook ``02_vae``).
    """
    z_e, codebook = _check_codebook(z_e, codebook)
    indices = nearest_codeword(z_e, codebook)
    e_k = codebook[indices]
    return Quantized(z_e + (e_k - z_e).detach(), indices)


def _sq_norm(a: Tensor) -> Tensor:
    """Squared norm of each batch row over all its other axes, averaged over the batch."""
    return a.pow(2).reshape(len(a), -1).sum(-1).mean()


def vq_loss(x, x_rec, z_e, codebook, indices, beta: float = 0.25) -> VQTerms:
    r"""The three terms of the slide's loss, each averaged over the batch.

    .. math::
        \|x - \mathrm{Dec}(z_q)\|^2, \qquad \|sg(z_e) - z_q\|^2, \qquad \beta\,\|z_e - sg(z_q)\|^2

    with :math:`z_q = e_k` looked up in ``codebook`` (not the straight-through copy, so that
    the codebook term reaches the codebook).

    Args:
        x: data, shape (batch, D).
        x_rec: the decoder's output Dec(z_q), shape (batch, D).
        z_e: encoder outputs, shape (batch, ..., C).
        codebook: codewords, shape (K, C).
        indices: the chosen codewords, shape z_e.shape[:-1].
        beta: the commitment weight (the VQ-VAE paper uses 0.25).

    Returns:
        :class:`VQTerms` of scalars: (recon, codebook, commitment), commitment including beta.

    Graded in exercise 2.6 (notebook ``02_vae``).
    """
    z_e, codebook = _check_codebook(z_e, codebook)
    if indices.shape != z_e.shape[:-1]:
        raise ValueError(f"indices must have shape {tuple(z_e.shape[:-1])} (one per vector of z_e), "
                         f"got {tuple(indices.shape)}")
    if x.shape != x_rec.shape:
        raise ValueError(f"x and x_rec must have the same shape, got {tuple(x.shape)} and {tuple(x_rec.shape)}")
    z_q = codebook[indices]
    return VQTerms(_sq_norm(x - x_rec), _sq_norm(z_e.detach() - z_q), beta * _sq_norm(z_e - z_q.detach()))


def codebook_usage(indices: Tensor, n_codes: int) -> Tensor:
    """How many times each of the K codewords is chosen, shape (K,), int64."""
    return torch.bincount(indices.reshape(-1), minlength=n_codes)


def perplexity(counts: Tensor) -> float:
    r"""Effective number of codewords used, :math:`\exp(-\sum_k p_k \log p_k)`, :math:`p_k` = usage share.

    K when all codewords are used equally; 1 when a single codeword takes everything.
    """
    p = counts.double() / counts.sum()
    return float(torch.exp(-torch.xlogy(p, p).sum()))


class VQVAE(nn.Module):
    r"""A small VQ-VAE for 8x8 digits: M latent vectors of size C per digit, one shared codebook of K codewords.

    Encoder: x (batch, D) -> :math:`z_e` (batch, M, C); quantizer -> :math:`z_q` (batch, M, C);
    decoder: :math:`z_q` -> pixel means in (0, 1), shape (batch, D).
    The codebook starts as K encoder outputs of random training digits (``init_codebook``),
    or as random vectors of scale ``init_scale`` (far from the encoder's outputs when large:
    codewords that are never nearest get no gradient and stay dead).
    """

    def __init__(self, n_positions: int = 4, code_dim: int = 2, n_codes: int = 32, hidden: int = 128,
                 n_pixels: int = 64, init_scale: float = 0.1, seed: int = 0):
        super().__init__()
        self.n_positions, self.code_dim, self.n_codes = n_positions, code_dim, n_codes
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Sequential(nn.Linear(n_pixels, hidden), nn.Tanh(),
                                         nn.Linear(hidden, n_positions * code_dim))
            self.decoder = nn.Sequential(nn.Linear(n_positions * code_dim, hidden), nn.Tanh(),
                                         nn.Linear(hidden, n_pixels), nn.Sigmoid())
            self.codebook = nn.Parameter(init_scale * torch.randn(n_codes, code_dim))

    @torch.no_grad()
    def init_codebook(self, x: Tensor, seed: int = 0) -> None:
        """Set the codewords to the encoder outputs of K random digits of ``x`` (fewer dead codes)."""
        g = torch.Generator().manual_seed(seed)
        z = self.encode(x).reshape(-1, self.code_dim)
        self.codebook.copy_(z[torch.randperm(len(z), generator=g)[: self.n_codes]])

    def encode(self, x: Tensor) -> Tensor:
        """x (batch, D) -> z_e (batch, M, C)."""
        return self.encoder(x).reshape(len(x), self.n_positions, self.code_dim)

    def decode(self, z_q: Tensor) -> Tensor:
        """z_q (batch, M, C) -> pixel means (batch, D)."""
        return self.decoder(z_q.reshape(len(z_q), -1))

    def decode_codes(self, indices: Tensor) -> Tensor:
        """Codeword indices (batch, M) -> pixel means (batch, D)."""
        return self.decode(self.codebook[indices])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x -> (x_rec, z_e, indices)."""
        z_e = self.encode(x)
        z_q, indices = quantize(z_e, self.codebook)
        return self.decode(z_q), z_e, indices

    def loss_terms(self, x: Tensor, beta: float = 0.25) -> VQTerms:
        x_rec, z_e, indices = self(x)
        return vq_loss(x, x_rec, z_e, self.codebook, indices, beta)

    @torch.no_grad()
    def codes(self, x: Tensor) -> Tensor:
        """The codeword indices of each digit, shape (batch, M)."""
        return nearest_codeword(self.encode(x), self.codebook)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self(x)[0]


@dataclass
class VQRun:
    """A trained VQ-VAE and its history: the three loss terms at each step, shape (steps,), and its seconds."""

    model: VQVAE
    recon: Tensor
    codebook: Tensor
    commitment: Tensor
    beta: float
    seconds: float

    @torch.no_grad()
    def usage(self, x: Tensor) -> Tensor:
        """Codeword counts over all positions of the digits ``x``, shape (K,)."""
        return codebook_usage(self.model.codes(x), self.model.n_codes)

    @torch.no_grad()
    def sample(self, x_train: Tensor, n: int, seed: int = 0) -> Tensor:
        """Decode n code tuples drawn position by position from the training digits' code frequencies.

        (A real VQ-VAE learns a prior over code tuples, e.g. an autoregressive model; this
        independent-positions prior is the simplest stand-in.)
        """
        g = torch.Generator().manual_seed(seed)
        codes = self.model.codes(x_train)  # (n_train, M)
        m, k = self.model.n_positions, self.model.n_codes
        probs = torch.stack([torch.bincount(codes[:, i], minlength=k).double() for i in range(m)])
        drawn = torch.multinomial(probs, n, replacement=True, generator=g).T  # (n, M)
        return self.model.decode_codes(drawn)


def train_vqvae(x: Tensor, n_positions: int = 4, code_dim: int = 2, n_codes: int = 32, beta: float = 0.25,
                steps: int = 600, batch_size: int = 128, lr: float = 3e-3, init_from_data: bool = True,
                init_scale: float = 0.1, seed: int = 0, progress: bool = True,
                max_seconds: float | None = None) -> VQRun:
    """Train a :class:`VQVAE` on the rows of ``x`` with :func:`course_utils.core.fit.fit` (loss: :func:`vq_loss`)."""
    model = VQVAE(n_positions, code_dim, n_codes, n_pixels=x.shape[1], init_scale=init_scale, seed=seed).to(x.dtype)
    if init_from_data:
        model.init_codebook(x, seed)
    hist: tuple[list, list, list] = ([], [], [])

    def loss_fn(m: VQVAE, batch: Tensor) -> Tensor:
        terms = m.loss_terms(batch, beta)
        for h, t in zip(hist, terms, strict=True):
            h.append(float(t.detach()))
        return terms.total

    start = time.perf_counter()
    with one_thread():
        fit(model, loss_fn, minibatches(x, batch_size, seed), steps, lr=lr, progress=progress,
            desc=f"VQ-VAE (K={n_codes}, M={n_positions}, C={code_dim})", max_seconds=max_seconds)
    seconds = time.perf_counter() - start
    model.eval()
    return VQRun(model, *(torch.tensor(h) for h in hist), beta=float(beta), seconds=seconds)


@lru_cache(maxsize=2)
def small_vqvae(steps: int = 400, seed: int = 0) -> VQRun:
    """A VQ-VAE on the training digits with the default sizes; trained once per process (the demo's)."""
    from ..data.digits import load_digits_split

    return train_vqvae(load_digits_split().x_train, steps=steps, batch_size=256, lr=1e-2, seed=seed, progress=False)

