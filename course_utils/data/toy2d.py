r"""2-D toy targets made in code: two moons, eight Gaussians, a checkerboard, a ring of Gaussians.

Sections 03 to 07 train GANs, flows, score models and diffusion models on these. Every
sampler is vectorised, seeded through a ``torch.Generator``, and returns float32
points of shape (n, 2) on a scale of a few units (the plotting box is [-3, 3]^2).

.. code-block:: python

    x1 = sample_target("moons", 2000, seed=0)     # (2000, 2)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..core.validation import check_int
from .mixtures import GaussianMixture

__all__ = [
    "TARGETS", "checkerboard", "eight_gaussians", "labelled_ring", "ring_of_gaussians", "sample_target",
    "two_moons",
]

#: The named 2-D targets :func:`sample_target` knows.
TARGETS = ("moons", "eight_gaussians", "checkerboard")


def _check_n(n: int) -> int:
    return check_int(n, "n", 1, what="the number of points")


def two_moons(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    r"""Two interleaved half circles (scikit-learn's ``make_moons``), centred and scaled by 1.5.

    Upper moon: :math:`(\cos\theta, \sin\theta)`; lower moon: :math:`(1 - \cos\theta, 1/2 - \sin\theta)`,
    :math:`\theta \sim U[0, \pi]`, each point with probability 1/2, plus N(0, noise^2 I).

    Returns:
        float32 points, shape (n, 2).
    """
    _check_n(n)
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
    theta = math.pi * torch.rand(n, generator=generator)
    lower = torch.rand(n, generator=generator) < 0.5
    upper_pts = torch.stack([theta.cos(), theta.sin()], dim=1)
    lower_pts = torch.stack([1 - theta.cos(), 0.5 - theta.sin()], dim=1)
    x = torch.where(lower[:, None], lower_pts, upper_pts)
    x = x + noise * torch.randn(n, 2, generator=generator)
    return 1.5 * (x - torch.tensor([0.5, 0.25]))


def checkerboard(n: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Uniform on the 8 black squares of a 4 x 4 checkerboard covering [-2, 2]^2.

    :math:`x_1 \sim U[-2, 2]`; :math:`x_2` uniform on the squares of its column whose
    parity differs from that of :math:`\lfloor x_1 \rfloor`.

    Returns:
        float32 points, shape (n, 2).
    """
    _check_n(n)
    x1 = 4 * torch.rand(n, generator=generator) - 2
    row = 2 * torch.randint(0, 2, (n,), generator=generator) - 2  # -2 or 0
    x2 = torch.rand(n, generator=generator) + row + (torch.floor(x1) % 2)
    return torch.stack([x1, x2], dim=1)


def eight_gaussians(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    """Eight equal Gaussians N(m_k, std^2 I) on a circle of the given radius (see ``ring_of_gaussians``)."""
    return ring_of_gaussians(8, radius, std)


def ring_of_gaussians(n_modes: int = 8, radius: float = 2.0, std: float = 0.1) -> GaussianMixture:
    r"""The classic GAN target: n equal-weight Gaussians N(m_k, std^2 I) on a circle.

    .. math:: m_k = r\,(\cos 2\pi k / n,\ \sin 2\pi k / n), \quad k = 0, \dots, n - 1
    """
    if n_modes < 1 or radius <= 0 or std <= 0:
        raise ValueError(f"need n_modes >= 1, radius > 0 and std > 0; got {n_modes}, {radius}, {std}")
    angle = torch.arange(n_modes, dtype=torch.float64) * 2 * math.pi / n_modes
    means = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return GaussianMixture(torch.full((n_modes,), 1.0 / n_modes), means, torch.full((n_modes,), std**2))


def labelled_ring(n_labels: int = 4, radius: float = 2.0, std: float = 0.1) -> tuple[GaussianMixture, Tensor]:
    """A ring of 2 * n_labels Gaussians where label k owns the two opposite modes k and k + n_labels.

    Returns the mixture and the label of each component, shape (2 * n_labels,).
    """
    mixture = ring_of_gaussians(2 * n_labels, radius, std)
    return mixture, torch.arange(2 * n_labels) % n_labels


def sample_target(name: str, n: int, seed: int | None = 0) -> Tensor:
    """n float32 points, shape (n, 2), from the named target (one of :data:`TARGETS`).

    ``seed`` fixes the draw (None: torch's global generator).
    """
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")
    _check_n(n)
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    if name == "moons":
        return two_moons(n, generator=gen)
    if name == "checkerboard":
        return checkerboard(n, generator=gen)
    return eight_gaussians().sample(n, generator=gen).float()
