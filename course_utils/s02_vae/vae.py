r"""The Gaussian VAE of the lecture, its two decoders and its loss (lecture: "VAE - instantiation example").

Taught in notebook ``02_vae``. With :math:`p(z) = \mathcal N(0, I)`,
:math:`q_\phi(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))` and a decoder
:math:`p_\theta(x|z)`, the ELBO is

.. math::
    V_L(\theta, \phi; x) = -D_{KL}(q_\phi(z|x) \| p(z)) + E_{q_\phi(z|x)}[\log p_\theta(x|z)],

and training *maximises* it: gradient descent on :math:`-V_L`. The reconstruction term is
estimated with one reparametrized sample :math:`z = \mu + \sigma \odot \epsilon` per digit.
Two decoders:

- Gaussian (the slides'): :math:`\log p(x|z) = -\sum_j \big[\tfrac12 \log(2\pi\sigma_j^2)
  + \frac{(x_j - \mu_j)^2}{2\sigma_j^2}\big]` (the corrected sign and constant, see ERRATA);
- Bernoulli: :math:`\log p(x|z) = \sum_j \big[x_j \log p_j + (1 - x_j) \log(1 - p_j)\big]`,
  :math:`p_j = \mathrm{sigmoid}(\text{logit}_j)`.

Shapes: digits are (batch, D) with D = 64 pixels, latents (batch, J) (the lecture's letters:
D counts the pixels, J the latent dimensions).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.fit import fit
from ..core.threads import one_thread
from ..core.validation import as_tensor, check_same_shape
from ..data.digits import minibatches
from ..s01_kl_elbo.divergences import kl_std_normal

__all__ = [
    "LOG_2PI",
    "LIKELIHOODS",
    "ELBOTerms",
    "gaussian_log_likelihood",
    "bernoulli_log_likelihood",
    "negative_elbo_gaussian",
    "negative_elbo_bernoulli",
    "vae_step",
    "sgd_with_vae_step",
    "LatentUsage",
    "latent_usage",
    "VAE",
    "TrainingRun",
    "train_vae",
    "train_vae_family",
    "elbo_per_digit",
    "beta_family",
    "FAMILY_BETAS",
]

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("gaussian", "bernoulli")
#: The beta values of the precomputed 2-D latent models (the beta-VAE demo).
FAMILY_BETAS = (0.1, 0.3, 1.0, 3.0, 10.0)


def _check_pixels(x, params: dict[str, Tensor]) -> Tensor:
    x = as_tensor(x, "x")
    for name, t in params.items():
        check_same_shape(x, t, "x", name)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (batch, D), got {tuple(x.shape)}")
    return x


def gaussian_log_likelihood(x, mu, log_var) -> Tensor:
    r"""Diagonal Gaussian log-likelihood, summed over the D features (the corrected slide formula).

    .. math:: \log p(x|z) = -\sum_{j=1}^D \Big[\tfrac12 \log(2\pi\sigma_j^2) + \frac{(x_j - \mu_j)^2}{2\sigma_j^2}\Big]

    Args:
        x: data, shape (batch, D).
        mu: decoder means :math:`\mu(z)`, shape (batch, D).
        log_var: decoder log-variances :math:`\log\sigma^2(z)`, shape (batch, D).

    Returns:
        Shape (batch,), in nats (a log-density: it can be positive).
    """
    x = _check_pixels(x, {"mu": mu, "log_var": log_var})
    return -0.5 * (LOG_2PI + log_var + (x - mu) ** 2 * torch.exp(-log_var)).sum(-1)


def bernoulli_log_likelihood(x, logits) -> Tensor:
    r"""Bernoulli log-likelihood from logits, summed over the D features.

    .. math:: \log p(x|z) = \sum_{j=1}^D \big[x_j \log p_j + (1 - x_j)\log(1 - p_j)\big],
              \quad p_j = \mathrm{sigmoid}(\ell_j)

    computed stably as :math:`-\mathrm{BCEWithLogits}`. For x in {0, 1} it is a log-probability
    (<= 0); for grey levels in (0, 1) it is the usual "binary cross-entropy" loss, not a
    normalised likelihood.

    Args:
        x: data in [0, 1], shape (batch, D).
        logits: :math:`\ell(z)`, shape (batch, D).

    Returns:
        Shape (batch,).
    """
    x = _check_pixels(x, {"logits": logits})
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


@dataclass(frozen=True)
class ELBOTerms:
    """The two terms of -ELBO, per digit.

    Attributes:
        recon: :math:`-\\log p(x|z)` at the sampled z, shape (batch,).
        kl: :math:`D_{KL}(q(z|x) \\| p(z))`, shape (batch,).
    """

    recon: Tensor
    kl: Tensor

    def negative_elbo(self, beta: float = 1.0) -> Tensor:
        """:math:`-\\log p(x|z) + \\beta\\, D_{KL}`, shape (batch,); beta = 1 is the ELBO's."""
        return self.recon + beta * self.kl


def negative_elbo_gaussian(x, mu_x, log_var_x, mu_z, log_var_z) -> Tensor:
    r"""One-sample estimate of :math:`-V_L` with a Gaussian decoder, per digit.

    .. math::
        -V_L = -\log \mathcal N(x; \mu_x(z), \sigma_x^2(z))
               + D_{KL}(\mathcal N(\mu_z, \sigma_z^2) \| \mathcal N(0, I))

    Args:
        x, mu_x, log_var_x: data and decoder outputs at the sampled z, shape (batch, D).
        mu_z, log_var_z: encoder outputs, shape (batch, J).

    Returns:
        Shape (batch,).

    Graded in exercise 2.2 (notebook ``02_vae``). The exercise hands out a copy with one mistake to fix.
    """
    return -gaussian_log_likelihood(x, mu_x, log_var_x) + kl_std_normal(mu_z, log_var_z)


def negative_elbo_bernoulli(x, logits, mu_z, log_var_z) -> Tensor:
    r"""One-sample estimate of :math:`-V_L` with a Bernoulli decoder, per digit.

    Args:
        x, logits: data and decoder logits at the sampled z, shape (batch, D).
        mu_z, log_var_z: encoder outputs, shape (batch, J).

    Returns:
        Shape (batch,).

    Graded in exercise 2.3 (notebook ``02_vae``).
    """
    return -bernoulli_log_likelihood(x, logits) + kl_std_normal(mu_z, log_var_z)


def vae_step(encoder: nn.Module, decoder: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor,
             eps: Tensor) -> Tensor:
    r"""One training step of a VAE with a Bernoulli decoder: a step of gradient descent on :math:`-V_L`.

    1. encode: ``encoder(x)`` has shape (batch, 2J); its first J columns are :math:`\mu_z`, its last J
       :math:`\log\sigma_z^2`;
    2. reparametrize with the given noise: :math:`z = \mu_z + \sigma_z \odot \epsilon`;
    3. decode: ``decoder(z)`` gives the logits, shape (batch, D);
    4. the loss is the batch mean of :math:`-V_L = -\log p_\theta(x|z) + D_{KL}(q_\phi(z|x) \| p(z))`
       (sums over the D pixels and the J latent dimensions; :func:`negative_elbo_bernoulli`);
    5. clear the old gradients, backpropagate, and let the optimizer step (the slides' training loop:
       :math:`\theta \leftarrow \theta + \text{lr}\,\nabla_\theta V_L`, i.e. descent on :math:`-V_L`).

    Args:
        encoder: x (batch, D) -> (batch, 2J).
        decoder: z (batch, J) -> logits (batch, D).
        optimizer: holds the parameters of both networks.
        x: digits in [0, 1], shape (batch, D).
        eps: standard normal noise, shape (batch, J).

    Returns:
        The loss that was minimised (before the step), a 0-dim tensor without gradient.

    Graded in exercise 2.4 (notebook ``02_vae``).
    """
    optimizer.zero_grad()
    mu, log_var = encoder(x).chunk(2, -1)
    z = mu + torch.exp(0.5 * log_var) * eps
    loss = negative_elbo_bernoulli(x, decoder(z), mu, log_var).mean()
    loss.backward()
    optimizer.step()
    return loss.detach()


def sgd_with_vae_step(x: Tensor, steps: int = 40, lr: float = 0.05, latent_dim: int = 8, batch_size: int = 128,
                      seed: int = 0) -> Tensor:
    """A fresh Bernoulli-decoder :class:`VAE` trained by ``steps`` calls of :func:`vae_step` with plain SGD.

    Minibatches of ``batch_size`` rows of ``x`` (drawn with replacement) and their noise follow ``seed``.

    Returns:
        The loss of each step (batch mean of -ELBO, nats per digit), shape (steps,).
    """
    model = VAE(latent_dim, likelihood="bernoulli", n_pixels=x.shape[1], seed=seed).to(x.dtype)
    sgd = torch.optim.SGD([*model.encoder.parameters(), *model.decoder.parameters()], lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    with one_thread():
        for _ in range(steps):
            batch = x[torch.randint(len(x), (batch_size,), generator=g)]
            eps = torch.randn(batch_size, latent_dim, generator=g, dtype=x.dtype)
            losses.append(float(vae_step(model.encoder, model.decoder, sgd, batch, eps)))
    return torch.tensor(losses)


class VAE(nn.Module):
    r"""The lecture's VAE: one-hidden-layer tanh MLPs for the encoder and the decoder.

    Encoder: x (batch, D) -> :math:`(\mu_z, \log\sigma_z^2)`, each (batch, J).
    Decoder: z (batch, J) -> Gaussian :math:`(\mu_x, \log\sigma_x^2)` with :math:`\mu_x` in (0, 1)
    (a sigmoid) and :math:`\sigma_x \ge` ``min_std`` (a soft floor: without one, pixels that
    are always 0 drive :math:`\sigma \to 0` and the likelihood to infinity); or Bernoulli logits.

    Args:
        latent_dim: J.
        hidden: width of the hidden layers.
        likelihood: "gaussian" or "bernoulli".
        n_pixels: D.
        min_std: the Gaussian decoder's smallest standard deviation.
        seed: the seed of the initial weights.
    """

    def __init__(self, latent_dim: int = 8, hidden: int = 128, likelihood: str = "gaussian",
                 n_pixels: int = 64, min_std: float = 0.05, seed: int = 0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        self.latent_dim, self.likelihood, self.n_pixels = latent_dim, likelihood, n_pixels
        self.min_log_var = 2 * math.log(min_std)
        out = 2 * n_pixels if likelihood == "gaussian" else n_pixels
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Sequential(nn.Linear(n_pixels, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent_dim))
            self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, out))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (batch, D) -> (mu_z, log_var_z), each (batch, J)."""
        mu, log_var = self.encoder(x).chunk(2, -1)
        return mu, log_var

    def decode(self, z: Tensor) -> tuple[Tensor, ...]:
        """z (batch, J) -> (mu_x, log_var_x) (Gaussian) or (logits,) (Bernoulli), each (batch, D)."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return (out,)
        a, b = out.chunk(2, -1)
        return torch.sigmoid(a), self.min_log_var + F.softplus(b - self.min_log_var)

    def mean(self, z: Tensor) -> Tensor:
        """The decoder's mean image E[x|z], shape (batch, D), in [0, 1]."""
        params = self.decode(z)
        return torch.sigmoid(params[0]) if self.likelihood == "bernoulli" else params[0]

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """:math:`\\log p_\\theta(x|z)`, shape (batch,)."""
        params = self.decode(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, *params)
        return gaussian_log_likelihood(x, *params)

    def terms(self, x: Tensor, eps: Tensor) -> ELBOTerms:
        """The two terms of the one-sample -ELBO, with z = mu + sigma * eps (eps: (batch, J))."""
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * eps
        return ELBOTerms(-self.log_likelihood(x, z), kl_std_normal(mu, log_var))

    def forward(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(recon, kl) per digit: :meth:`terms` as a tuple."""
        t = self.terms(x, eps)
        return t.recon, t.kl

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The decoder mean at the posterior mean, z = mu_z(x): shape (batch, D)."""
        return self.mean(self.encode(x)[0])

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> Tensor:
        """Decoder means at n draws z ~ N(0, I) of the prior: shape (n, D)."""
        g = torch.Generator().manual_seed(seed)
        dtype = next(self.parameters()).dtype
        return self.mean(torch.randn(n, self.latent_dim, generator=g, dtype=dtype))


@dataclass(frozen=True)
class LatentUsage:
    r"""How much each latent dimension of an encoder tells about x, on a set of digits (each shape (J,)).

    Attributes:
        kl: the mean over the digits of each dimension's KL term, in nats,
            :math:`\frac1B \sum_b \tfrac12(\sigma_{bj}^2 + \mu_{bj}^2 - 1 - \log\sigma_{bj}^2)`. Close to 0:
            :math:`q(z_j|x) \approx p(z_j)` for every digit, the dimension carries no information about x.
        spread: :math:`\mathrm{Var}_x[\mu_j(x)]`, how far apart the posterior means of different digits are.
        noise: :math:`E_x[\sigma_j^2(x)]`, the posterior variance: the noise the sample adds to the mean.
    """

    kl: Tensor
    spread: Tensor
    noise: Tensor

    def active(self, threshold: float = 0.01) -> Tensor:
        """The "active units" test of Burda et al. (2016): spread > threshold, shape (J,) of bools."""
        return self.spread > threshold


@torch.no_grad()
def latent_usage(model: VAE, x: Tensor) -> LatentUsage:
    """Each latent dimension's KL, spread of posterior means and posterior noise on the digits ``x``."""
    with one_thread():
        mu, log_var = model.encode(x)
        return LatentUsage(0.5 * (log_var.exp() + mu**2 - 1 - log_var).mean(0), mu.var(0), log_var.exp().mean(0))


@dataclass
class TrainingRun:
    """A trained VAE and its loss history.

    Attributes:
        model: the trained :class:`VAE`.
        recon, kl: the batch means of the two terms of -ELBO at each step, shape (steps,).
        beta: the KL weight used.
        seconds: the wall time of training.
    """

    model: VAE
    recon: Tensor
    kl: Tensor
    beta: float
    seconds: float


def train_vae(x: Tensor, latent_dim: int = 8, likelihood: str = "gaussian", beta: float = 1.0,
              steps: int = 800, batch_size: int = 128, lr: float = 5e-3, hidden: int = 128, seed: int = 0,
              progress: bool = True, max_seconds: float | None = None) -> TrainingRun:
    r"""Train a :class:`VAE` on the rows of ``x`` with :func:`course_utils.core.fit.fit`.

    Each step minimises the batch mean of :math:`-\log p(x|z) + \beta D_{KL}(q(z|x)\|p(z))`
    (one reparametrized z per digit): gradient *descent* on :math:`-V_L`, ascent on the ELBO.
    """
    model = VAE(latent_dim, hidden, likelihood, n_pixels=x.shape[1], seed=seed).to(x.dtype)
    g = torch.Generator().manual_seed(seed + 1)
    recon, kl = [], []

    def loss_fn(m: VAE, batch: Tensor) -> Tensor:
        eps = torch.randn(len(batch), latent_dim, generator=g, dtype=batch.dtype)
        t = m.terms(batch, eps)
        recon.append(float(t.recon.detach().mean()))
        kl.append(float(t.kl.detach().mean()))
        return t.negative_elbo(beta).mean()

    start = time.perf_counter()
    with one_thread():
        fit(model, loss_fn, minibatches(x, batch_size, seed), steps, lr=lr, progress=progress,
            desc=f"VAE ({likelihood}, J={latent_dim}, beta={beta:g})", max_seconds=max_seconds)
    seconds = time.perf_counter() - start
    model.eval()
    return TrainingRun(model, torch.tensor(recon), torch.tensor(kl), float(beta), seconds)


class _Stacked(nn.Module):
    """The parameters of several copies of one module, stacked on a new first axis."""

    def __init__(self, stacked: dict[str, Tensor]):
        super().__init__()
        self.names = list(stacked)
        self.params = nn.ParameterList([nn.Parameter(stacked[n].detach().clone()) for n in self.names])

    def as_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.params, strict=True))


def train_vae_family(x: Tensor, betas=FAMILY_BETAS, latent_dim: int = 2, likelihood: str = "gaussian",
                     steps: int = 250, batch_size: int = 256, lr: float = 1e-2, hidden: int = 64, seed: int = 0,
                     progress: bool = True) -> list[TrainingRun]:
    r"""Train one VAE per beta at once, vectorised with ``torch.func.vmap`` (about the cost of one).

    Every member starts from the same weights and sees the same minibatches and noise, so
    the members differ only by their beta. Each member's loss is its own batch mean of
    :math:`-\log p(x|z) + \beta D_{KL}`; their sum is minimised, and since Adam treats every
    parameter entry separately, each member trains exactly as it would alone.
    """
    from torch.func import functional_call, stack_module_state, vmap

    betas_t = torch.tensor([float(b) for b in betas], dtype=x.dtype)
    models = [VAE(latent_dim, hidden, likelihood, n_pixels=x.shape[1], seed=seed).to(x.dtype) for _ in betas]
    stacked, _ = stack_module_state(models)
    holder = _Stacked(stacked)
    base = models[0]
    g = torch.Generator().manual_seed(seed + 1)
    recon, kl = [], []

    def member(params, beta, batch, eps):
        r, k = functional_call(base, params, (batch, eps))
        return r.mean(), k.mean()

    def loss_fn(h: _Stacked, batch: Tensor) -> Tensor:
        eps = torch.randn(len(batch), latent_dim, generator=g, dtype=batch.dtype)
        r, k = vmap(member, in_dims=(0, 0, None, None))(h.as_dict(), betas_t, batch, eps)
        recon.append(r.detach())
        kl.append(k.detach())
        return (r + betas_t * k).sum()

    start = time.perf_counter()
    with one_thread():
        fit(holder, loss_fn, minibatches(x, batch_size, seed), steps, lr=lr, progress=progress,
            desc=f"{len(betas)} VAEs (J={latent_dim}), one per beta")
    seconds = time.perf_counter() - start
    recon_t, kl_t = torch.stack(recon), torch.stack(kl)
    runs = []
    for i, (model, beta) in enumerate(zip(models, betas, strict=True)):
        model.load_state_dict({n: p[i].detach().clone() for n, p in holder.as_dict().items()})
        model.eval()
        runs.append(TrainingRun(model, recon_t[:, i], kl_t[:, i], float(beta), seconds))
    return runs


@lru_cache(maxsize=2)
def beta_family(steps: int = 250, seed: int = 0) -> tuple[TrainingRun, ...]:
    """2-D latent Gaussian VAEs on the training digits, one per :data:`FAMILY_BETAS`; trained once per process."""
    from ..data.digits import load_digits_split

    x = load_digits_split().x_train
    return tuple(train_vae_family(x, FAMILY_BETAS, steps=steps, seed=seed, progress=False))


@torch.no_grad()
def elbo_per_digit(model: VAE, x: Tensor, n_samples: int = 16, seed: int = 0) -> Tensor:
    r"""Monte Carlo ELBO of each digit in nats, :math:`\frac1L \sum_l \log p(x|z_l) - D_{KL}`, shape (batch,)."""
    g = torch.Generator().manual_seed(seed)
    with one_thread():
        mu, log_var = model.encode(x)
        ll = torch.zeros(len(x), dtype=x.dtype)
        for _ in range(n_samples):
            z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=g, dtype=x.dtype)
            ll += model.log_likelihood(x, z)
        return ll / n_samples - kl_std_normal(mu, log_var)
