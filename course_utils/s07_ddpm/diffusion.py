r"""Denoising diffusion probabilistic models, DDPM (lecture: "Denoising diffusion model"; Ho et al. 2020).

Taught in notebook ``07_ddpm``. Time is discrete, t = 1, ..., T: :math:`x_0` is data and
:math:`x_T` is (almost) pure noise. With :math:`\alpha_t = 1 - \beta_t` and
:math:`\bar\alpha_t = \prod_{s=1}^t \alpha_s`:

.. math::
    q(x_t \mid x_{t-1}) &= \mathcal N(\sqrt{\alpha_t}\, x_{t-1},\ (1 - \alpha_t) I)
        \quad\text{(one step of the forward chain)}\\
    q(x_t \mid x_0) &= \mathcal N(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I)
        \quad\text{(the diffusion kernel)}\\
    q(x_{t-1} \mid x_t, x_0) &= \mathcal N(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I),\quad
        \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t\\
    p_\theta(x_{t-1} \mid x_t) &= \mathcal N\Big(\frac{1}{\sqrt{\alpha_t}}\Big(x_t
        - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\varepsilon_\theta(x_t, t)\Big),\ \sigma_t^2 I\Big),
        \quad \sigma_t^2 = \beta_t

Gaussians are N(mean, variance). Two of the slides' slips are corrected here (see the
notebook's "Note on the slides" boxes): :math:`\sigma_t^2 = \beta_t` is a *variance*
(the slide sets :math:`\sigma_t = 1 - \alpha_t`), and the sampler adds no noise at its last
step, t = 1 (Ho et al., Algorithm 2).

**Indexing.** A schedule tensor has shape (T,) and holds the values at t = 1, ..., T:
``betas[t - 1]`` is :math:`\beta_t` (Ho et al.: :math:`\beta_1 = 10^{-4}`, :math:`\beta_T = 0.02`),
and ``abar[t - 1]`` is :math:`\bar\alpha_t`; :math:`\bar\alpha_0 = 1` (no noise at all).
:meth:`Schedule.at` does the shift, so callers write steps as the lecture does.

Shapes: points x are (n, d) (d = 2 for toy data, d = 64 for 8x8 digits); a step t is an int
or an integer tensor of shape (n,) or (n, 1); coefficients broadcast as (n, 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from ..core.fit import LRSchedule, WeightAverage, fit
from ..core.nets import sinusoidal_embedding
from ..core.threads import one_thread
from ..core.validation import as_points, as_tensor, check_int, check_same_shape

__all__ = [
    "BETA_1",
    "BETA_T",
    "SCHEDULES",
    "T_HO",
    "DDPMRun",
    "EpsNet",
    "Gaussian",
    "NoiseSchedule",
    "alpha_bar",
    "ancestral_sample",
    "ancestral_step",
    "check_steps",
    "cosine_betas",
    "diffusion_kernel",
    "eps_from_x0",
    "eps_loss",
    "eps_to_score",
    "forward_chain",
    "linear_betas",
    "make_schedule",
    "p_mean",
    "RECIPE_2D",
    "RECIPE_DIGITS",
    "pixels_to_signed",
    "predict_x0",
    "q_posterior",
    "q_sample",
    "q_step",
    "reverse_sigma",
    "score_to_eps",
    "signed_to_pixels",
    "snr",
    "train_ddpm",
    "train_ddpm_2d",
    "train_ddpm_digits",
]

#: Ho et al. (2020): T = 1000 steps, beta rising linearly from 1e-4 (t = 1) to 0.02 (t = T).
T_HO, BETA_1, BETA_T = 1000, 1e-4, 0.02
Variance = Literal["beta", "posterior"]


# --- schedules --------------------------------------------------------------------------------


def linear_betas(T: int = T_HO, beta_1: float = BETA_1, beta_T: float = BETA_T) -> Tensor:
    r"""Ho et al.'s linear schedule: :math:`\beta_t = \beta_1 + \frac{t - 1}{T - 1}(\beta_T - \beta_1)`, t = 1..T.

    Returns float64 of shape (T,); entry t - 1 is :math:`\beta_t` (so ``[0]`` is beta_1, ``[-1]`` is beta_T).
    """
    _check_T(T)
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(f"need 0 < beta_1 <= beta_T < 1 (each beta_t is a variance fraction), got {beta_1}, {beta_T}")
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_betas(T: int = T_HO, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    r"""The cosine schedule (Nichol & Dhariwal 2021), defined through :math:`\bar\alpha_t`:

    .. math:: \bar\alpha_t = \frac{f(t)}{f(0)},\quad f(t) = \cos^2\Big(\frac{t/T + s}{1 + s}\,\frac\pi2\Big),
              \qquad \beta_t = \min\Big(1 - \frac{\bar\alpha_t}{\bar\alpha_{t-1}},\ \beta_{\max}\Big)

    Its :math:`\bar\alpha_t` falls slowly at both ends instead of collapsing early. Returns float64 (T,).
    """
    _check_T(T)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


#: The schedules by name: name -> function T -> betas (T,).
SCHEDULES: dict[str, Callable[[int], Tensor]] = {"linear": linear_betas, "cosine": cosine_betas}


def alpha_bar(betas) -> Tensor:
    r""":math:`\bar\alpha_t = \prod_{s=1}^t (1 - \beta_s)` for t = 1..T; betas (T,) -> (T,), same indexing."""
    betas = _betas(betas)
    return torch.cumprod(1 - betas, dim=0)


def snr(abar) -> Tensor:
    r"""The signal-to-noise ratio of :math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon`:
    :math:`\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)` (any shape)."""
    abar = as_tensor(abar, "abar")
    return abar / (1 - abar)


def _check_T(T) -> None:
    check_int(T, "T", 1, what="the number of diffusion steps")


def _betas(betas) -> Tensor:
    betas = as_tensor(betas, "betas", torch.float64)
    if betas.ndim != 1 or len(betas) == 0:
        raise ValueError(f"betas must have shape (T,) with betas[t - 1] = beta_t; got {tuple(betas.shape)}")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("every beta_t must lie in (0, 1): it is the variance of the noise added at step t")
    return betas


@dataclass(frozen=True)
class NoiseSchedule:
    r"""A noise schedule and everything derived from it, float64, each of shape (T,), entry t - 1 for step t.

    Attributes:
        betas: :math:`\beta_t`; alphas: :math:`\alpha_t = 1 - \beta_t`; abar: :math:`\bar\alpha_t`;
        abar_prev: :math:`\bar\alpha_{t-1}` (with :math:`\bar\alpha_0 = 1`);
        posterior_variance: :math:`\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t`;
        name: "linear", "cosine" or "custom".
    """

    betas: Tensor
    name: str = "custom"
    alphas: Tensor = field(init=False, repr=False)
    abar: Tensor = field(init=False, repr=False)
    abar_prev: Tensor = field(init=False, repr=False)
    posterior_variance: Tensor = field(init=False, repr=False)

    def __post_init__(self):
        betas = _betas(self.betas)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        for name, value in (("betas", betas), ("alphas", 1 - betas), ("abar", abar), ("abar_prev", abar_prev),
                            ("posterior_variance", (1 - abar_prev) / (1 - abar) * betas)):
            object.__setattr__(self, name, value)

    @property
    def T(self) -> int:
        """The number of steps."""
        return len(self.betas)

    @property
    def snr(self) -> Tensor:
        r""":math:`\bar\alpha_t / (1 - \bar\alpha_t)`, shape (T,)."""
        return snr(self.abar)

    def at(self, values: Tensor, t, like: Tensor | None = None) -> Tensor:
        """``values[t - 1]`` for steps t (int or (n,)) as a float64 column (n, 1); n from ``like`` (n, d) if given.

        Coefficients stay in float64 (1 - abar_1 = 1e-4 loses digits in float32); cast the result, not them.
        """
        if type(t) is int and 1 <= t <= self.T:  # one whole step (the samplers' loops): skip the checks
            value = values[t - 1].reshape(1, 1)
            return value if like is None else value.expand(like.shape[0], 1)
        steps = check_steps(t, self.T, None if like is None else like.shape[0])
        return values[steps - 1][:, None]

    def __repr__(self) -> str:
        return (f"NoiseSchedule({self.name!r}, T={self.T}, beta_1={float(self.betas[0]):.3g}, "
                f"beta_T={float(self.betas[-1]):.3g})")


def make_schedule(name: str = "linear", T: int = T_HO) -> NoiseSchedule:
    """The named schedule with T steps (``"linear"``: Ho et al.'s; ``"cosine"``: Nichol & Dhariwal's)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    return NoiseSchedule(SCHEDULES[name](T), name)


def check_steps(t, T: int, n: int | None = None) -> Tensor:
    """Steps t as an int64 tensor of shape (n,) (or (1,) for a single step without n); all in 1..T.

    Accepts an int, a 0-d tensor, or integer tensors of shape (n,) or (n, 1).
    """
    if type(t) is int and 1 <= t <= T:  # one whole step (the samplers' loops): nothing more to check
        return torch.full((1 if n is None else n,), t, dtype=torch.long)
    t = torch.as_tensor(t)
    if t.is_floating_point():
        if not bool((t == t.round()).all()):
            raise ValueError("t must hold whole diffusion steps 1..T (integers), got fractional values")
        t = t.long()
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"t must hold integer steps 1..T, got dtype {t.dtype}")
    t = t.long()
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim > 1:
        raise ValueError(f"t must be an int or have shape (n,) or (n, 1); got {tuple(t.shape)}")
    t = t.reshape(-1)
    if n is not None:
        if t.shape[0] == 1:
            t = t.expand(n)
        elif t.shape[0] != n:
            raise ValueError(f"t has {t.shape[0]} steps but x has {n} rows: give one step or one per row")
    if bool(((t < 1) | (t > T)).any()):
        raise ValueError(f"t must lie in 1..T = 1..{T} (t = 1 is the first noising step, t = T the last); "
                         f"got values from {int(t.min())} to {int(t.max())}")
    return t


def _mix(a: Tensor, x: Tensor, b: Tensor, y: Tensor) -> Tensor:
    """a x + b y with float64 coefficients (n, 1) cast to x's dtype."""
    return a.to(x.dtype) * x + b.to(x.dtype) * y


# --- the forward process ------------------------------------------------------------------------


@dataclass(frozen=True)
class Gaussian:
    """An isotropic Gaussian N(mean, variance I): mean (n, d), variance (n, 1) (or (1, 1))."""

    mean: Tensor
    variance: Tensor


def q_step(x_prev, t, eps, schedule: NoiseSchedule) -> Tensor:
    r"""One step of the forward chain, :math:`x_t = \sqrt{\alpha_t}\, x_{t-1} + \sqrt{1 - \alpha_t}\,\varepsilon`.

    A draw of :math:`q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{\alpha_t} x_{t-1}, (1 - \alpha_t) I)`.
    x_prev, eps: (n, d); t: the step, 1..T. Returns (n, d).
    """
    x_prev = as_points(x_prev, "x_prev")
    eps = as_tensor(eps, "eps", x_prev.dtype)
    check_same_shape(x_prev, eps, "x_prev", "eps")
    a = schedule.at(schedule.alphas, t, x_prev)
    return _mix(a.sqrt(), x_prev, (1 - a).sqrt(), eps)


def forward_chain(x0, schedule: NoiseSchedule, t_end: int | None = None, generator: torch.Generator | None = None,
                  return_path: bool = False) -> Tensor:
    r"""Run the forward chain :math:`x_0 \to x_1 \to \dots \to x_{t_{end}}`, one :func:`q_step` at a time.

    Args:
        x0: data, shape (n, d).
        t_end: the last step (default T).
        generator: the source of the fresh noise of each step.
        return_path: return every state, shape (t_end + 1, n, d) (the first is x0).

    Returns:
        :math:`x_{t_{end}}`, shape (n, d), or the path.
    """
    x = as_points(x0, "x0")
    t_end = schedule.T if t_end is None else t_end
    check_steps(t_end, schedule.T)
    path = [x]
    with one_thread():
        for t in range(1, t_end + 1):
            x = q_step(x, t, torch.randn(x.shape, generator=generator, dtype=x.dtype), schedule)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


def diffusion_kernel(x0, t, schedule: NoiseSchedule) -> Gaussian:
    r"""The diffusion kernel :math:`q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I)`.

    Returns mean (n, d) and variance (n, 1).
    """
    x0 = as_points(x0, "x0")
    abar = schedule.at(schedule.abar, t, x0)
    return Gaussian(abar.sqrt().to(x0.dtype) * x0, (1 - abar).to(x0.dtype))


def q_sample(x0, t, eps, schedule: NoiseSchedule) -> Tensor:
    r"""Sample the diffusion kernel directly:

    .. math:: x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon

    x0, eps: (n, d); t: int or (n,) steps in 1..T. Returns (n, d).

    Graded in exercise 7.1 (notebook ``07_ddpm``).
    """
    x0 = as_points(x0, "x0")
    eps = as_tensor(eps, "eps", x0.dtype)
    check_same_shape(x0, eps, "x0", "eps")
    abar = schedule.at(schedule.abar, t, x0)
    return _mix(abar.sqrt(), x0, (1 - abar).sqrt(), eps)


def q_posterior(x_t, x0, t, schedule: NoiseSchedule) -> Gaussian:
    r"""The forward process reversed given the data point, :math:`q(x_{t-1} \mid x_t, x_0)` (Bayes' rule):

    .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
              + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t,
              \qquad \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t

    x_t, x0: (n, d). Returns mean (n, d) and variance (n, 1). At t = 1 the variance is 0 and the mean x0.
    """
    x_t = as_points(x_t, "x_t")
    x0 = as_tensor(x0, "x0", x_t.dtype)
    check_same_shape(x_t, x0, "x_t", "x0")
    s = schedule
    beta, alpha = s.at(s.betas, t, x_t), s.at(s.alphas, t, x_t)
    abar, abar_prev = s.at(s.abar, t, x_t), s.at(s.abar_prev, t, x_t)
    mean = _mix(abar_prev.sqrt() * beta / (1 - abar), x0, alpha.sqrt() * (1 - abar_prev) / (1 - abar), x_t)
    return Gaussian(mean, s.at(s.posterior_variance, t, x_t).to(x_t.dtype))


# --- noise prediction ---------------------------------------------------------------------------


def predict_x0(x_t, t, eps_hat, schedule: NoiseSchedule) -> Tensor:
    r"""Invert the kernel's sample for :math:`x_0`:
    :math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon) / \sqrt{\bar\alpha_t}`.

    With the optimal :math:`\hat\varepsilon = E[\varepsilon \mid x_t]` this is Tweedie's
    :math:`E[x_0 \mid x_t]`. x_t, eps_hat: (n, d). Returns (n, d).
    """
    x_t = as_points(x_t, "x_t")
    eps_hat = as_tensor(eps_hat, "eps_hat", x_t.dtype)
    check_same_shape(x_t, eps_hat, "x_t", "eps_hat")
    abar = schedule.at(schedule.abar, t, x_t)
    return _mix(1 / abar.sqrt(), x_t, -((1 - abar) / abar).sqrt(), eps_hat)


def eps_from_x0(x_t, t, x0, schedule: NoiseSchedule) -> Tensor:
    r"""The noise that takes x0 to x_t: :math:`(x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t}`, (n, d)."""
    x_t = as_points(x_t, "x_t")
    abar = schedule.at(schedule.abar, t, x_t)
    return _mix(1 / (1 - abar).sqrt(), x_t, -(abar / (1 - abar)).sqrt(), as_tensor(x0, "x0", x_t.dtype))


def eps_to_score(eps_hat, t, schedule: NoiseSchedule) -> Tensor:
    r"""Noise prediction to score: :math:`s_\theta(x_t, t) = -\varepsilon_\theta(x_t, t) / \sqrt{1 - \bar\alpha_t}`.

    (The kernel's score is :math:`\nabla \log q(x_t \mid x_0) = -(x_t - \sqrt{\bar\alpha_t} x_0)/(1 - \bar\alpha_t)
    = -\varepsilon / \sqrt{1 - \bar\alpha_t}`.) eps_hat: (n, d). Returns (n, d).

    Graded in exercise 7.5 (notebook ``07_ddpm``).
    """
    eps_hat = as_points(eps_hat, "eps_hat")
    return (-1 / (1 - schedule.at(schedule.abar, t, eps_hat)).sqrt()).to(eps_hat.dtype) * eps_hat


def score_to_eps(score, t, schedule: NoiseSchedule) -> Tensor:
    r"""The inverse of :func:`eps_to_score`: :math:`\varepsilon = -\sqrt{1 - \bar\alpha_t}\, s`. (n, d)."""
    score = as_points(score, "score")
    return -(1 - schedule.at(schedule.abar, t, score)).sqrt().to(score.dtype) * score


def call_eps_model(eps_model, x: Tensor, t) -> Tensor:
    """``eps_model(x, t)`` with t an int step or steps of shape (n,); checks that the prediction is shaped like x."""
    steps = t if isinstance(t, Tensor) and t.ndim == 1 and len(t) == len(x) else torch.full((len(x),), int(t))
    out = eps_model(x, steps)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"eps_model(x_t, t) must return a noise prediction shaped like x_t {tuple(x.shape)}, "
                         f"got {shape}")
    return out


def eps_loss(eps_model, x0, t, eps, schedule: NoiseSchedule) -> Tensor:
    r"""The simplified DDPM loss (the slides' training algorithm), a batch mean of squared norms:

    .. math:: L = \frac1n \sum_{i=1}^n \big\|\varepsilon_i - \varepsilon_\theta\big(\sqrt{\bar\alpha_{t_i}}\, x_{0,i}
              + \sqrt{1 - \bar\alpha_{t_i}}\,\varepsilon_i,\ t_i\big)\big\|^2

    Args:
        eps_model: :math:`\varepsilon_\theta`, called as ``eps_model(x_t (n, d), t (n,) int64 steps)``.
        x0: data (n, d); t: steps (n,) in 1..T; eps: the noise (n, d).

    Returns:
        A scalar tensor (differentiable in the model's parameters).
    """
    x0 = as_points(x0, "x0")
    steps = check_steps(t, schedule.T, x0.shape[0])
    x_t = q_sample(x0, steps, eps, schedule)
    return ((as_tensor(eps, "eps", x0.dtype) - call_eps_model(eps_model, x_t, steps)) ** 2).sum(-1).mean()


def ddpm_train_step(eps_model, optimizer, x0, t, eps, schedule: NoiseSchedule) -> float:
    r"""One step of the slides' training algorithm on a given batch (its t and noise drawn by the caller):

    .. math:: x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon, \qquad
              L = \frac1n \sum_i \big\|\varepsilon_i - \varepsilon_\theta(x_{t_i}, t_i)\big\|^2, \qquad
              \theta \leftarrow \text{optimizer step on } \nabla_\theta L

    (zero the gradients first: the parameters may hold gradients left over from an earlier step).

    Args:
        eps_model: :math:`\varepsilon_\theta`, an ``nn.Module`` called as ``eps_model(x_t (n, d), t (n,))``.
        optimizer: a ``torch.optim`` optimiser over its parameters.
        x0: data (n, d); t: steps (n,) in 1..T; eps: the noise (n, d).

    Returns:
        The loss before the step, a float.

    Graded in exercise 7.2 (notebook ``07_ddpm``).
    """
    x0 = as_points(x0, "x0")
    steps = check_steps(t, schedule.T, x0.shape[0])
    abar = schedule.at(schedule.abar, steps, x0)
    x_t = _mix(abar.sqrt(), x0, (1 - abar).sqrt(), as_tensor(eps, "eps", x0.dtype))
    loss = ((as_tensor(eps, "eps", x0.dtype) - call_eps_model(eps_model, x_t, steps)) ** 2).sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


# --- the reverse process ------------------------------------------------------------------------


def p_mean(x_t, t, eps_hat, schedule: NoiseSchedule) -> Tensor:
    r""":math:`\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}
    \hat\varepsilon\Big)`, the mean of :math:`p_\theta(x_{t-1} \mid x_t)`; equal to :math:`\tilde\mu_t(x_t, \hat x_0)`.
    x_t, eps_hat: (n, d). Returns (n, d)."""
    x_t = as_points(x_t, "x_t")
    eps_hat = as_tensor(eps_hat, "eps_hat", x_t.dtype)
    check_same_shape(x_t, eps_hat, "x_t", "eps_hat")
    s = schedule
    alpha, abar = s.at(s.alphas, t, x_t), s.at(s.abar, t, x_t)
    return _mix(1 / alpha.sqrt(), x_t, -(1 - alpha) / ((1 - abar) * alpha).sqrt(), eps_hat)


def reverse_sigma(t, schedule: NoiseSchedule, variance: Variance = "beta") -> Tensor:
    r"""The reverse kernel's standard deviation :math:`\sigma_t`, shape (n, 1) (n = 1 for an int t).

    ``"beta"``: :math:`\sigma_t^2 = \beta_t` (Ho et al.'s choice, the corrected slide); ``"posterior"``:
    :math:`\sigma_t^2 = \tilde\beta_t`, the other choice of Ho et al. Either way a variance, so
    :math:`\sigma_t` is its square root.
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' (sigma_t^2 = beta_t) or 'posterior' (beta tilde), got {variance!r}")
    values = schedule.betas if variance == "beta" else schedule.posterior_variance
    return schedule.at(values, t).sqrt()


def ancestral_step(x_t, t: int, eps_hat, z, schedule: NoiseSchedule, variance: Variance = "beta") -> Tensor:
    r"""One step of the sampling algorithm (Ho et al., Algorithm 2), from step t to t - 1:

    .. math:: x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}
              \hat\varepsilon\Big) + \sigma_t z, \qquad \sigma_t^2 = \beta_t,\quad z = 0 \text{ at } t = 1.

    Args:
        x_t, eps_hat, z: (n, d) (z a standard normal draw, ignored at t = 1).
        t: the current step, an int in 1..T.
        variance: "beta" or "posterior" (see :func:`reverse_sigma`).

    Returns:
        :math:`x_{t-1}`, shape (n, d).

    Graded in exercise 7.3 (notebook ``07_ddpm``).
    """
    check_int(t, "t", what="one int step: every point at the same step")
    mean = p_mean(x_t, t, eps_hat, schedule)
    if t == 1:
        return mean  # the last step returns the mean: no noise (the slide's loop adds it, Ho et al. do not)
    z = as_tensor(z, "z", mean.dtype)
    check_same_shape(mean, z, "x_t", "z")
    return mean + reverse_sigma(t, schedule, variance).to(mean.dtype) * z


@torch.no_grad()
def ancestral_sample(eps_model, x_T, schedule: NoiseSchedule, generator: torch.Generator | None = None,
                     variance: Variance = "beta", return_path: bool = False, path_every: int = 1) -> Tensor:
    r"""The slides' sampling loop: :math:`x_T \sim \mathcal N(0, I)`, then :func:`ancestral_step` for t = T, ..., 1.

    Args:
        eps_model: ``eps_model(x (n, d), t (n,) int64) -> (n, d)``.
        x_T: the starting noise, (n, d).
        generator: the source of the z of each step.
        return_path: also return the states at t = T, T - path_every, ..., and 0.
        path_every: keep every this many steps in the path.

    Returns:
        :math:`x_0`, (n, d); with ``return_path`` the pair (x_0, (path (k, n, d), steps (k,))).
    """
    x = as_points(x_T, "x_T")
    path, kept = [x], [schedule.T]
    with one_thread():
        for t in range(schedule.T, 0, -1):
            eps_hat = call_eps_model(eps_model, x, t)
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype) if t > 1 else None
            x = ancestral_step(x, t, eps_hat, z, schedule, variance)
            if return_path and ((t - 1) % path_every == 0):
                path.append(x)
                kept.append(t - 1)
    if return_path:
        return x, (torch.stack(path), torch.tensor(kept))
    return x


# --- the network and its training ---------------------------------------------------------------


class EpsNet(nn.Module):
    r"""The noise predictor :math:`\varepsilon_\theta(x_t, t)`: a residual MLP with the sinusoidal time embedding.

    As on the slide "Implementation": one set of parameters for every step, the step entering
    only through its embedding, added inside every residual block (a U-Net's ResNet blocks,
    for vectors): block k computes :math:`h \leftarrow h + f_k(h + W_k\, \mathrm{emb}(t))`, with
    :math:`f_k` = LayerNorm, Linear, SiLU, Linear. ``forward(x (n, d), t (n,) or (n, 1) steps 1..T) -> (n, d)``;
    t may be fractional (the probability-flow ODE evaluates between steps).

    Args:
        dim: data dimension d; width, depth: hidden units and residual blocks;
        time_dim: size of :func:`course_utils.core.nets.sinusoidal_embedding` (applied to t itself).
    """

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 2, time_dim: int = 64, seed: int = 0):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1 or time_dim < 2:
            raise ValueError(f"need dim, width, depth >= 1 and time_dim >= 2; got {dim}, {width}, {depth}, {time_dim}")
        torch.manual_seed(seed)
        self.dim, self.time_dim, self.depth = dim, time_dim, depth
        self.inp = nn.Linear(dim, width)
        self.time = nn.Linear(time_dim, depth * width)  # W_k emb(t) of every block k, in one product
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
            for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: Tensor, t) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
        if len(t) not in (1, len(x)):
            raise ValueError(f"t must be one step or one per row of x ({len(x)}), got {len(t)}")
        if len(t) > 1 and bool((t == t[0]).all()):
            t = t[:1]  # one step for every point (the samplers): embed it once, broadcast in the blocks
        emb = self.time(sinusoidal_embedding(t, self.time_dim, scale=1.0)).chunk(self.depth, dim=1)
        h = self.inp(x.float())
        for block, e in zip(self.blocks, emb, strict=True):
            h = h + block(h + e)
        return self.out(h).to(x.dtype)


@dataclass
class DDPMRun:
    """A trained noise predictor and how it was trained.

    Attributes:
        model: the EMA copy of the network (what samples); net: the raw trained network.
        schedule: its noise schedule; losses: the loss of each step (steps,); seconds: training time.
    """

    model: nn.Module
    net: nn.Module
    schedule: NoiseSchedule
    losses: Tensor
    seconds: float

    @torch.no_grad()
    def eps(self, x: Tensor, t) -> Tensor:
        """:math:`\\varepsilon_\\theta(x, t)` of the EMA network, without gradients; x (n, d), t int or (n,)."""
        with one_thread():
            return self.model(x, t)

    def noise(self, n: int, seed: int = 0) -> Tensor:
        """Starting noise x_T ~ N(0, I), shape (n, d), float32, from ``seed``."""
        return torch.randn(n, self.dim, generator=torch.Generator().manual_seed(seed))

    @property
    def dim(self) -> int:
        """The data dimension d."""
        return int(self.model.dim)

    def sample(self, n: int, seed: int = 0, return_path: bool = False, path_every: int = 10):
        """n ancestral samples (n, d) from x_T drawn with ``seed`` (T network calls); see :func:`ancestral_sample`."""
        with one_thread():
            return ancestral_sample(self.model, self.noise(n, seed), self.schedule,
                                    torch.Generator().manual_seed(seed + 1), return_path=return_path,
                                    path_every=path_every)


def train_ddpm(data, schedule: NoiseSchedule, steps: int = 3000, batch: int = 256, lr: float = 2e-3, width: int = 128,
               depth: int = 2, ema_decay: float = 0.99, seed: int = 0, progress: bool = True,
               desc: str = "DDPM", max_seconds: float | None = None, net: nn.Module | None = None,
               time_dim: int = 64, lr_schedule: LRSchedule = "constant", ema_warmup: bool = False) -> DDPMRun:
    r"""The slides' training algorithm with :func:`course_utils.core.fit.fit` (Adam):

    repeat: :math:`x_0 \sim q(x_0)`, :math:`t \sim \mathcal U\{1, \dots, T\}`,
    :math:`\varepsilon \sim \mathcal N(0, I)`, a gradient step on :func:`eps_loss`.

    An exponential moving average of the weights, :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\theta`
    after every step (Ho et al. keep one too), is what samples: it averages out the noise of the last steps.

    Args:
        data: a function n -> (n, d) fresh data points, or a tensor (n, d) to draw minibatches from.
        schedule: the noise schedule; steps, batch, lr: Adam updates, batch size, (peak) learning rate.
        width, depth, time_dim: the :class:`EpsNet`; ema_decay: d; seed: fixes weights, batches, t and eps.
        max_seconds: stop early (see :func:`~course_utils.core.fit.fit`).
        net: another network ``net(x (n, d), t (n,) steps) -> (n, d)`` to train instead of an EpsNet
            (for example ``nets.TimeMLP(2, time_scale=1.0)``); width, depth and time_dim are then ignored.
        lr_schedule: ``"constant"``, or ``"cosine"``: the rate decays from lr to 0 over the steps
            (:func:`~course_utils.core.fit.cosine_decay`), fast early progress and a quiet end, so fewer steps
            suffice.
        ema_warmup: let the average start as a plain mean of the weights so far, decay
            :math:`\min(d, (1 + k)/(10 + k))` at update k (:class:`~course_utils.core.fit.WeightAverage`).
    """
    gen = torch.Generator().manual_seed(seed + 1)
    if isinstance(data, Tensor):
        pool = as_points(data, "data").float()
        draw = lambda n: pool[torch.randint(0, len(pool), (n,), generator=gen)]  # noqa: E731
        dim = pool.shape[1]
    elif callable(data):
        draw = data
        dim = int(data(1).shape[1])
    else:
        raise TypeError(f"data must be a tensor (n, d) or a function n -> (n, d), got {type(data).__name__}")
    net = EpsNet(dim, width, depth, time_dim, seed=seed) if net is None else net
    average = WeightAverage(net, ema_decay, warmup=ema_warmup)

    def loss_fn(model: EpsNet, x0: Tensor) -> Tensor:
        t = torch.randint(1, schedule.T + 1, (len(x0),), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        return eps_loss(model, x0, t, eps, schedule)

    import tqdm.auto  # noqa: F401  fit's progress bar: its first import is slow, keep it off the clock

    start = time.perf_counter()
    with one_thread():
        losses = fit(net, loss_fn, lambda: draw(batch), steps, lr=lr, progress=progress, desc=desc,
                     max_seconds=max_seconds, lr_schedule=lr_schedule, average=average)
    seconds = time.perf_counter() - start
    net.eval()
    return DDPMRun(average.averaged, net, schedule, losses, seconds)


#: The notebook's two models (and ``make bench``'s, and the demos'): :class:`EpsNet` sizes, steps and optimiser
#: settings. Both use Adam with a cosine-decaying learning rate from a high peak, and an averaged copy of the
#: weights that starts as a plain mean (``ema_warmup``; at these step counts the warm-up's decay,
#: (1 + k)/(10 + k), stays below ``ema_decay``: the copy averages about the last tenth of the steps).
#: The 2-D model's large batches matter more than its width: the sharp switch between modes at t = 20 to 150
#: is what limits it, and it is learned from many points per step.
RECIPE_2D = {"width": 64, "depth": 2, "time_dim": 64, "steps": 600, "batch": 1536, "lr": 2e-2,
             "lr_schedule": "cosine", "ema_decay": 0.995, "ema_warmup": True}
RECIPE_DIGITS = {"width": 128, "depth": 2, "time_dim": 64, "steps": 400, "batch": 128, "lr": 1e-2,
                 "lr_schedule": "cosine", "ema_decay": 0.995, "ema_warmup": True}


def _train_recipe(data, schedule: NoiseSchedule, recipe: dict, steps: int, seed: int, progress: bool,
                  max_seconds: float | None, desc: str) -> DDPMRun:
    settings = {k: v for k, v in recipe.items() if k != "steps"}
    return train_ddpm(data, schedule, steps=steps, seed=seed, progress=progress, desc=desc, max_seconds=max_seconds,
                      **settings)


def train_ddpm_2d(draw: Callable[[int], Tensor], schedule: NoiseSchedule, steps: int = RECIPE_2D["steps"],
                  seed: int = 0, progress: bool = True, max_seconds: float | None = None) -> DDPMRun:
    """A DDPM for 2-D points: an :class:`EpsNet` (2 blocks of 64 units), settings :data:`RECIPE_2D`.

    ``draw(n) -> (n, 2)`` gives fresh data points.
    """
    return _train_recipe(draw, schedule, RECIPE_2D, steps, seed, progress, max_seconds, "DDPM, 2-D")


def train_ddpm_digits(pixels: Tensor, schedule: NoiseSchedule, steps: int = RECIPE_DIGITS["steps"], seed: int = 0,
                      progress: bool = True, max_seconds: float | None = None) -> DDPMRun:
    """A DDPM for 8x8 digits (pixels (n, 64) in [0, 1], trained in [-1, 1]): an :class:`EpsNet` (2 blocks of 128).

    Settings: :data:`RECIPE_DIGITS`. Its samples come out in [-1, 1]: :func:`signed_to_pixels` maps them back.
    """
    return _train_recipe(pixels_to_signed(pixels), schedule, RECIPE_DIGITS, steps, seed, progress, max_seconds,
                         "DDPM, digits")


# --- pixels -------------------------------------------------------------------------------------


def pixels_to_signed(pixels) -> Tensor:
    """Digits in [0, 1] -> [-1, 1] (Ho et al. scale pixels to [-1, 1]): 2 x - 1."""
    return 2 * as_tensor(pixels, "pixels") - 1


def signed_to_pixels(x) -> Tensor:
    """[-1, 1] -> pixels in [0, 1], clipped: (x + 1) / 2."""
    return ((as_tensor(x, "x") + 1) / 2).clamp(0, 1)
