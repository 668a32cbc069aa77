r"""The GAN objective and its equilibrium (lecture: "Generative Adversarial Networks - GANs").

Taught in notebook ``03_gans``. The minimax value of Goodfellow et al. (2014),

.. math::
    L(D, g) = E_{x \sim p_X}[\log D(x)] + E_{x \sim p_\theta}[\log(1 - D(x))],

its optimal discriminator :math:`D^* = p_X / (p_X + p_\theta)`, the value at the optimum
:math:`C(g) = -\log 4 + 2\,\mathrm{JSD}(p_X, p_\theta)`, the losses trained in practice
(binary cross-entropy for D, the non-saturating loss for g) and the least-squares GAN of
Mao et al. (2017). Densities on a grid are 1-D tensors of shape (G,) with spacing ``dx``;
discriminator outputs on a batch are logits (any real number) or probabilities in (0, 1).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.validation import as_tensor, check_probabilities, check_same_shape
from ..s01_kl_elbo.divergences import kl_discrete

__all__ = [
    "LOG_4",
    "LSGANLosses",
    "discriminator_loss",
    "generator_logit_gradient",
    "generator_loss",
    "jsd_discrete",
    "jsd_on_grid",
    "lsgan_losses",
    "optimal_discriminator",
    "optimal_value_on_grid",
    "pix2pix_generator_loss",
    "reweighted_mean",
    "shifted_uniforms_value",
    "value_on_grid",
]

#: :math:`\log 4`: :math:`C(g) = -\log 4` at the equilibrium :math:`p_\theta = p_X`.
LOG_4 = math.log(4.0)

GeneratorLoss = Literal["nonsaturating", "minimax"]


def _densities(p_x, p_theta) -> tuple[Tensor, Tensor]:
    p_x, p_theta = as_tensor(p_x, "p_x"), as_tensor(p_theta, "p_theta")
    check_same_shape(p_x, p_theta, "p_x", "p_theta")
    if bool((p_x < 0).any()) or bool((p_theta < 0).any()):
        raise ValueError("p_x and p_theta are densities and must be >= 0 everywhere")
    return p_x, p_theta


def _check_dx(dx: float) -> None:
    if not dx > 0:
        raise ValueError(f"dx is the grid spacing and must be > 0, got {dx}")


def optimal_discriminator(p_x, p_theta) -> Tensor:
    r"""The optimal discriminator for a fixed generator (slide "equilibrium analysis - proof").

    .. math:: D^*(x) = \frac{p_X(x)}{p_X(x) + p_\theta(x)}

    (the maximiser of :math:`a \log y + b \log(1 - y)` is :math:`y = a / (a + b)`).
    Where both densities vanish, D* is undefined; this returns 1/2 there.

    Args:
        p_x: data density values, shape (...).
        p_theta: generator density values, same shape.

    Returns:
        D*(x), same shape, in [0, 1].

    Its odds are the density ratio, :math:`D^* / (1 - D^*) = p_X / p_\theta`: a discriminator's
    logit estimates :math:`\log p_X - \log p_\theta` (used by :func:`reweighted_mean`).
    """
    p_x, p_theta = _densities(p_x, p_theta)
    total = p_x + p_theta
    return torch.where(total > 0, p_x / torch.where(total > 0, total, 1.0), torch.full_like(total, 0.5))


def value_on_grid(d, p_x, p_theta, dx: float) -> Tensor:
    r"""The minimax value of a discriminator D, by quadrature on a grid.

    .. math:: L(D, g) = \int p_X(x) \log D(x) + p_\theta(x) \log(1 - D(x))\, dx

    Terms whose density is 0 count as 0. Args: ``d`` D(x) in [0, 1], and the two
    densities, all of shape (G,); ``dx`` the grid spacing. Returns a scalar tensor.
    """
    p_x, p_theta = _densities(p_x, p_theta)
    d = as_tensor(d, "d")
    check_same_shape(d, p_x, "d", "p_x")
    _check_dx(dx)
    return (torch.xlogy(p_x, d) + torch.xlogy(p_theta, 1 - d)).sum() * dx


def optimal_value_on_grid(p_x, p_theta, dx: float) -> Tensor:
    r""":math:`C(g) = \max_D L(D, g) = L(D^*, g)`, by quadrature on a grid (shape (G,), spacing dx).

    Equals :math:`-\log 4 + 2\,\mathrm{JSD}(p_X, p_\theta)` (:func:`jsd_on_grid`): its
    minimum :math:`-\log 4` is reached exactly at :math:`p_\theta = p_X`.

    Graded in exercise 3.2 (notebook ``03_gans``).
    """
    p_x, p_theta = _densities(p_x, p_theta)
    _check_dx(dx)
    total = p_x + p_theta
    # log D* = log p_X - log(p_X + p_theta), log(1 - D*) = log p_theta - log(p_X + p_theta): no 1 - D* to underflow
    return (torch.xlogy(p_x, p_x) + torch.xlogy(p_theta, p_theta) - torch.xlogy(total, total)).sum() * dx


def jsd_on_grid(p, q, dx: float) -> Tensor:
    r"""The Jensen-Shannon divergence in nats, by quadrature on a grid.

    .. math::
        \mathrm{JSD}(p, q) = \tfrac12 D_{KL}\big(p \,\|\, m\big) + \tfrac12 D_{KL}\big(q \,\|\, m\big),
        \qquad m = \tfrac{p + q}{2}

    It lies in :math:`[0, \log 2]`. Args: densities p, q of shape (G,), spacing dx.
    """
    p, q = _densities(p, q)
    _check_dx(dx)
    m = 0.5 * (p + q)
    safe_m = torch.where(m > 0, m, 1.0)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, safe_m)).sum() * dx
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, safe_m)).sum() * dx
    return 0.5 * (kl_pm + kl_qm)


def jsd_discrete(p, q) -> Tensor:
    r"""The Jensen-Shannon divergence between discrete distributions, in nats, along the last axis.

    .. math::
        \mathrm{JSD}(p, q) = \tfrac12 D_{KL}(p \,\|\, m) + \tfrac12 D_{KL}(q \,\|\, m), \qquad m = \tfrac{p + q}{2}

    Symmetric, in :math:`[0, \log 2]`, and finite even where p or q is 0. p, q: (..., K) -> (...).

    Graded in exercise 3.3 (notebook ``03_gans``).
    """
    p, q = as_tensor(p, "p"), as_tensor(q, "q")
    check_same_shape(p, q, "p", "q")
    check_probabilities(p, "p")
    check_probabilities(q, "q")
    m = 0.5 * (p + q)
    return 0.5 * (kl_discrete(p, m) + kl_discrete(q, m))


def reweighted_mean(fake_logits, values) -> Tensor:
    r"""An expectation under the data, estimated from generator samples and D's logits (the density-ratio view).

    A discriminator's odds estimate the density ratio, :math:`D/(1 - D) \approx D^*/(1 - D^*) = p_X / p_\theta`,
    and with :math:`D = \sigma(l)` the odds are :math:`e^{l}`. Importance sampling then turns samples
    :math:`x_j \sim p_\theta` into an estimate of :math:`E_{p_X}[f]`, with self-normalised weights
    (they sum to 1, so the ratio only has to be right up to a constant):

    .. math::
        E_{p_X}[f] = E_{p_\theta}\Big[\frac{p_X}{p_\theta} f\Big]
        \approx \sum_j w_j f(x_j), \qquad w_j = \frac{e^{l_j}}{\sum_k e^{l_k}} = \mathrm{softmax}(l)_j

    (the softmax is the overflow-free form of the normalised odds).

    Args:
        fake_logits: D's logits :math:`l_j` on n generator samples, shape (n,).
        values: :math:`f(x_j)`, shape (n,) or (n, k).

    Returns:
        The estimate, shape () or (k,).

    Graded in exercise 3.1 (notebook ``03_gans``).
    """
    logits, values = as_tensor(fake_logits, "fake_logits"), as_tensor(values, "values")
    if logits.ndim != 1 or values.ndim not in (1, 2) or values.shape[0] != logits.shape[0]:
        raise ValueError(f"fake_logits must have shape (n,) and values (n,) or (n, k), got {tuple(logits.shape)} "
                         f"and {tuple(values.shape)}")
    weights = torch.softmax(logits, 0)
    return weights @ values


def shifted_uniforms_value(shift: float) -> float:
    r""":math:`C(g)` for :math:`p_X = U[0, 1]` and :math:`p_\theta = U[s, s + 1]`, in closed form.

    Where the two supports overlap (length :math:`1 - |s|`), :math:`D^* = 1/2`; elsewhere each
    density is alone and :math:`D^*` is 1 or 0, contributing :math:`\log 1 = 0`. So

    .. math:: C(g) = -\log 4\, \max(0, 1 - |s|) = -\log 4 + 2\,\mathrm{JSD}, \qquad \mathrm{JSD} = \log 2 \min(1, |s|).

    Once the supports are disjoint (:math:`|s| \ge 1`), C is 0 whatever s: flat, no gradient to follow.

    Graded in exercise 3.4 (notebook ``03_gans``).
    """
    s = float(shift)
    if not math.isfinite(s):
        raise ValueError(f"shift must be a finite number, got {shift!r}")
    return -LOG_4 * max(0.0, 1.0 - abs(s))


def _logits(x, name: str) -> Tensor:
    t = as_tensor(x, name)
    if t.ndim == 0 or t.numel() == 0:
        raise ValueError(f"{name} must be a batch of logits, shape (batch,) or (batch, 1), got {tuple(t.shape)}")
    return t


def discriminator_loss(real_logits, fake_logits) -> Tensor:
    r"""The discriminator's loss: :math:`-L(D, g)` as binary cross-entropy, each expectation batch-averaged.

    .. math::
        \mathcal L_D = -\frac1m \sum_i \log D(x_i) - \frac1{m'} \sum_j \log(1 - D(g(z_j))),
        \qquad D = \sigma(\text{logit})

    computed stably from logits with :math:`\log\sigma(l) = -\mathrm{softplus}(-l)` and
    :math:`\log(1 - \sigma(l)) = -\mathrm{softplus}(l)`.

    Args:
        real_logits: D's logits on real data, shape (m,) or (m, 1).
        fake_logits: D's logits on generated data, shape (m',) or (m', 1); m' may differ from m.

    Returns:
        A scalar tensor (minimise it to maximise L).

    Graded in exercise 3.5 (notebook ``03_gans``).
    """
    real, fake = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake_logits, kind: GeneratorLoss = "nonsaturating") -> Tensor:
    r"""The generator's loss on D's logits for a batch of fakes.

    - ``"minimax"`` (saturating, the slide's objective): :math:`E[\log(1 - D(g(z)))]`, minimised;
    - ``"nonsaturating"`` (used in practice): :math:`-E[\log D(g(z))]`.

    Both are minimised by g; their gradients differ when D confidently rejects the fakes
    (:func:`generator_logit_gradient`).
    """
    fake = _logits(fake_logits, "fake_logits")
    if kind == "minimax":
        return -F.softplus(fake).mean()
    if kind == "nonsaturating":
        return F.softplus(-fake).mean()
    raise ValueError(f"kind must be 'nonsaturating' or 'minimax', got {kind!r}")


def generator_logit_gradient(d, kind: GeneratorLoss = "nonsaturating") -> Tensor:
    r"""d(loss of one fake)/d(logit) as a function of :math:`D = \sigma(\text{logit})`.

    - minimax: :math:`\frac{d}{dl}\log(1 - \sigma(l)) = -\sigma(l) = -D`: vanishes as D -> 0,
      i.e. exactly when the generator is bad and D rejects its samples;
    - non-saturating: :math:`\frac{d}{dl}\big(-\log\sigma(l)\big) = -(1 - \sigma(l)) = -(1 - D)`:
      largest when D -> 0.

    Args: ``d`` values of D in [0, 1], any shape. Returns the same shape.
    """
    d = as_tensor(d, "d")
    if bool(((d < 0) | (d > 1)).any()):
        raise ValueError("d holds discriminator outputs D(g(z)), which must lie in [0, 1]")
    if kind == "minimax":
        return -d
    if kind == "nonsaturating":
        return -(1 - d)
    raise ValueError(f"kind must be 'nonsaturating' or 'minimax', got {kind!r}")


class LSGANLosses(NamedTuple):
    """The two least-squares GAN losses (a tuple: ``loss_d, loss_g = lsgan_losses(...)``)."""

    discriminator: Tensor
    generator: Tensor


def lsgan_losses(d_real, d_fake, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> LSGANLosses:
    r"""Least-squares GAN (Mao et al. 2017), the slide's form.

    .. math::
        L(D) = E_{x \sim p_X}[(D(x) - b)^2] + E_{z}[(D(g(z)) - a)^2], \qquad
        L(g) = E_{z}[(D(g(z)) - c)^2]

    a: D's target for generated data, b: for real data, c: the value g wants D to give its
    samples (the slide's example: a = 0, b = c = 1). D's outputs here are raw scores (no sigmoid).

    Args:
        d_real: D(x) on a real batch, shape (m,) or (m, 1).
        d_fake: D(g(z)) on a fake batch, shape (m',) or (m', 1).

    Returns:
        ``LSGANLosses(discriminator, generator)``, two scalar tensors.

    Graded in exercise 3.7 (notebook ``03_gans``).
    """
    real, fake = _logits(d_real, "d_real"), _logits(d_fake, "d_fake")
    return LSGANLosses(((real - b) ** 2).mean() + ((fake - a) ** 2).mean(), ((fake - c) ** 2).mean())


def pix2pix_generator_loss(fake_logits, fake, target, l1_weight: float) -> Tensor:
    r"""The Pix2Pix generator's objective (Isola et al. 2017): the conditional GAN term plus an L1 term.

    .. math::
        G^* = \arg\min_G \max_D\ \mathcal L_{cGAN}(G, D) + \lambda\, \mathcal L_{L1}(G), \qquad
        \mathcal L_{L1}(G) = E_{x, y, z}\big[\|y - G(x, z)\|_1\big]

    On a batch, with the non-saturating form of the generator's adversarial term (as trained in practice):

    .. math::
        \mathcal L_G = -\frac1m \sum_j \log D(x_j, G(x_j, z_j)) + \frac{\lambda}{m} \sum_j \|y_j - G(x_j, z_j)\|_1

    Args:
        fake_logits: D's logits on the pairs (input, generated output), shape (m,).
        fake: the generated outputs G(x, z), shape (m, ...) (the L1 norm sums over everything but the batch).
        target: the paired ground truth y, same shape as ``fake``.
        l1_weight: :math:`\lambda \ge 0`.

    Returns:
        A scalar tensor.

    Graded in exercise 3.8 (notebook ``03_gans``).
    """
    logits = _logits(fake_logits, "fake_logits")
    fake, target = as_tensor(fake, "fake"), as_tensor(target, "target")
    check_same_shape(fake, target, "fake", "target")
    if fake.ndim < 1 or fake.shape[0] != logits.reshape(-1).shape[0]:
        raise ValueError(f"fake must have one row per logit: {tuple(fake.shape)} vs {tuple(logits.shape)}")
    l1 = (target - fake).abs().reshape(len(fake), -1).sum(1).mean()
    return F.softplus(-logits).mean() + l1_weight * l1
