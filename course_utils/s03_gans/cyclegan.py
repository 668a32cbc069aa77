r"""Unpaired translation with cycle consistency (lecture: "Cycle GANs (Zhu 2017)").

Taught in notebook ``03_gans``. Two mappings :math:`g: X \to Y` and :math:`f: Y \to X`,
two discriminators :math:`D_Y` and :math:`D_X`, and the objective

.. math::
    L(g, D_Y, f, D_X) = L(g, D_Y) + L(f, D_X) + L_{cycle}(f, g),

with the least-squares adversarial terms (corrected from the slide, see the course ERRATA)

.. math::
    L(g, D_Y) = E_{p_Y}[(D_Y(y) - 1)^2] + E_{p_X}[D_Y(g(x))^2]

and :math:`L_{cycle} = E_{p_X}\|f(g(x)) - x\|_1 + E_{p_Y}\|g(f(y)) - y\|_1`. The
discriminators minimise the adversarial terms; the generators minimise
:math:`E[(D_Y(g(x)) - 1)^2] + E[(D_X(f(y)) - 1)^2] + \lambda L_{cycle}`.
Points are tensors of shape (n, d); ``g, f, d_x, d_y`` are functions (n, d) -> (n, d) or (n, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..core.nets import mlp
from .gan_training import AdversarialTrainer

__all__ = [
    "CycleGANRun",
    "CycleGANTerms",
    "circle_domain",
    "cycle_consistency_loss",
    "cyclegan_terms",
    "ls_adversarial_term",
    "square_domain",
    "train_cyclegan",
]


def circle_domain(n: int, generator: torch.Generator | None = None, radius: float = 1.0,
                  noise: float = 0.05) -> tuple[Tensor, Tensor]:
    """Domain X: n points near a circle, and each point's angle in [0, 2 pi) (to colour by), float32."""
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    x = radius * torch.stack([angle.cos(), angle.sin()], 1) + noise * torch.randn(n, 2, generator=generator)
    return x, angle


def square_domain(n: int, generator: torch.Generator | None = None, half_side: float = 1.5,
                  noise: float = 0.05, center: tuple[float, float] = (0.0, 0.0)) -> tuple[Tensor, Tensor]:
    """Domain Y: n points near the outline of a square, and their angle around its centre, float32."""
    t = 8 * half_side * torch.rand(n, generator=generator)  # arc length along the perimeter
    side, s = (t // (2 * half_side)).long(), t % (2 * half_side) - half_side
    h = torch.full_like(s, half_side)
    xs = torch.stack([h, -s, -h, s])[side, torch.arange(n)]
    ys = torch.stack([s, h, -s, -h])[side, torch.arange(n)]
    y = torch.stack([xs, ys], 1) + noise * torch.randn(n, 2, generator=generator)
    angle = torch.atan2(ys, xs) % (2 * math.pi)
    return y + torch.tensor(center), angle


def ls_adversarial_term(d_real: Tensor, d_fake: Tensor) -> Tensor:
    r"""The least-squares adversarial term :math:`E[(D(\text{real}) - 1)^2] + E[D(\text{fake})^2]`.

    Both terms are squared (the slide's :math:`E[D_Y(G(x))]` is a slip: see ERRATA). The
    discriminator minimises it: D -> 1 on real points, D -> 0 on translated ones.
    """
    return ((d_real - 1) ** 2).mean() + (d_fake**2).mean()


def cycle_consistency_loss(x: Tensor, y: Tensor, g: Callable, f: Callable) -> Tensor:
    r""":math:`L_{cycle}(f, g) = E_{p_X}\|f(g(x)) - x\|_1 + E_{p_Y}\|g(f(y)) - y\|_1`.

    The L1 norm sums |.| over the d coordinates; each expectation is a batch mean.
    Args: x (n, d) from X, y (m, d) from Y; g: X -> Y, f: Y -> X. Returns a scalar.
    """
    forward = (f(g(x)) - x).abs().sum(-1).mean()
    backward = (g(f(y)) - y).abs().sum(-1).mean()
    return forward + backward


class CycleGANTerms(NamedTuple):
    """The three terms of the CycleGAN objective (a tuple in this order)."""

    adv_g: Tensor  # L(g, D_Y)
    adv_f: Tensor  # L(f, D_X)
    cycle: Tensor  # L_cycle(f, g)


def cyclegan_terms(x: Tensor, y: Tensor, g: Callable, f: Callable, d_x: Callable, d_y: Callable) -> CycleGANTerms:
    r"""``(L(g, D_Y), L(f, D_X), L_cycle(f, g))`` on batches x (n, d) of X and y (m, d) of Y.

    .. math::
        L(g, D_Y) = E[(D_Y(y) - 1)^2] + E[D_Y(g(x))^2], \quad
        L(f, D_X) = E[(D_X(x) - 1)^2] + E[D_X(f(y))^2]

    Graded in exercise 3.9 (notebook ``03_gans``).
    """
    return CycleGANTerms(
        ls_adversarial_term(d_y(y), d_y(g(x))),
        ls_adversarial_term(d_x(x), d_x(f(y))),
        cycle_consistency_loss(x, y, g, f),
    )


@dataclass
class CycleGANRun:
    """Trained CycleGAN networks: g: X -> Y, f: Y -> X, D_X, D_Y, and the trainer's history."""

    g: nn.Module
    f: nn.Module
    d_x: nn.Module
    d_y: nn.Module
    trainer: AdversarialTrainer
    cycle_weight: float
    seconds: float


def train_cyclegan(sample_x: Callable[[int], Tensor], sample_y: Callable[[int], Tensor], cycle_weight: float = 5.0,
                   steps: int = 1000, lr: float = 1e-3, width: int = 64, batch: int = 128, seed: int = 0,
                   progress: bool = True) -> CycleGANRun:
    r"""Train the four networks with alternating Adam updates (:class:`AdversarialTrainer`).

    Discriminators: minimise :math:`L(g, D_Y) + L(f, D_X)`. Generators: minimise
    :math:`E[(D_Y(g(x)) - 1)^2] + E[(D_X(f(y)) - 1)^2] + \lambda L_{cycle}` with
    :math:`\lambda` = ``cycle_weight`` (0 drops the cycle term). ``sample_x(n)``, ``sample_y(n)``
    draw unpaired batches (n, 2).
    """
    torch.manual_seed(seed)
    g, f = mlp(2, 2, width), mlp(2, 2, width)
    d_x, d_y = mlp(2, 1, width), mlp(2, 1, width)

    def d_loss():
        x, y = sample_x(batch), sample_y(batch)
        with torch.no_grad():
            gx, fy = g(x), f(y)
        return ls_adversarial_term(d_y(y), d_y(gx)) + ls_adversarial_term(d_x(x), d_x(fy))

    def g_loss():
        x, y = sample_x(batch), sample_y(batch)
        adversarial = ((d_y(g(x)) - 1) ** 2).mean() + ((d_x(f(y)) - 1) ** 2).mean()
        if cycle_weight == 0:
            return adversarial
        return adversarial + cycle_weight * cycle_consistency_loss(x, y, g, f)

    trainer = AdversarialTrainer([d_x, d_y], [g, f], d_loss, g_loss, lr, lr)
    seconds = trainer.train(steps, progress, f"CycleGAN (lambda = {cycle_weight:g})")
    return CycleGANRun(g, f, d_x, d_y, trainer, cycle_weight, seconds)
