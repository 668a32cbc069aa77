r"""Adaptive instance normalisation (lecture: "Style Gan - Preliminary: AdaIN", Huang 2017).

Taught in notebook ``03_gans``. For feature maps of shape (N, C, H, W):

.. math::
    \mathrm{AdaIN}(x, y) = \sigma(y) \Big(\frac{x - \mu(x)}{\sigma(x)}\Big) + \mu(y),

where :math:`\mu_{nc}` and :math:`\sigma_{nc}` are the mean and standard deviation of image n,
channel c over its H x W positions (instance statistics, unlike batch normalisation,
which averages over the batch too). :math:`\sigma = \sqrt{\mathrm{Var} + \epsilon}`
with the biased (1/HW) variance, as ``torch.nn.functional.instance_norm`` computes it.
StyleGAN computes the style's :math:`(\sigma, \mu)` from its latent w by an affine map (A)
instead of taking them from an image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core.validation import as_tensor

__all__ = ["EPS", "adain", "batch_stats", "colour_digits", "instance_stats"]

#: Added to the variance before the square root (the value instance_norm uses).
EPS = 1e-5


def _maps(x, name: str) -> Tensor:
    t = as_tensor(x, name)
    if t.ndim != 4:
        raise ValueError(f"{name} must be feature maps of shape (N, C, H, W), got {tuple(t.shape)}")
    return t


def instance_stats(x, eps: float = EPS) -> tuple[Tensor, Tensor]:
    r"""Per image and channel mean :math:`\mu_{nc}` and std :math:`\sigma_{nc}` over (H, W), each (N, C, 1, 1)."""
    x = _maps(x, "x")
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return mu, (var + eps).sqrt()


def batch_stats(x, eps: float = EPS) -> tuple[Tensor, Tensor]:
    r"""Batch normalisation's per channel mean and std over (N, H, W), each (1, C, 1, 1) (the slide's BN recall)."""
    x = _maps(x, "x")
    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return mu, (var + eps).sqrt()


def adain(x, y, eps: float = EPS) -> Tensor:
    r""":math:`\sigma(y)\,(x - \mu(x)) / \sigma(x) + \mu(y)`: x's channels take y's instance statistics.

    Args:
        x: content feature maps, shape (N, C, H, W).
        y: style feature maps, shape (N, C, H', W') (or (1, C, H', W'), broadcast over N).
        eps: added to both variances.

    Returns:
        Shape of x.

    Graded in exercise 3.10 (notebook ``03_gans``).
    """
    x, y = _maps(x, "x"), _maps(y, "y")
    if y.shape[1] != x.shape[1] or y.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"y must have x's channels and batch (or batch 1): x {tuple(x.shape)}, y {tuple(y.shape)}")
    mu_x, sigma_x = instance_stats(x, eps)
    mu_y, sigma_y = instance_stats(y, eps)
    return sigma_y * (x - mu_x) / sigma_x + mu_y


def colour_digits(pixels: Tensor, ink, paper) -> Tensor:
    """Paint grey digits (N, 64) in [0, 1] as RGB images (N, 3, 8, 8): ink where the pixel is 1, paper where 0.

    ``ink``, ``paper``: RGB triples in [0, 1], shape (3,) or (N, 3).
    """
    p = as_tensor(pixels, "pixels", torch.float64)
    if p.ndim != 2 or p.shape[1] != 64:
        raise ValueError(f"pixels must be flattened 8x8 digits (N, 64), got {tuple(p.shape)}")
    ink = as_tensor(ink, "ink", torch.float64).reshape(-1, 3, 1, 1)
    paper = as_tensor(paper, "paper", torch.float64).reshape(-1, 3, 1, 1)
    grey = p.reshape(-1, 1, 8, 8)
    return grey * ink + (1 - grey) * paper
