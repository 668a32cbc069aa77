r"""DDIM, and how DDPM connects to score matching and flow matching (lecture: the end of "Denoising diffusion model").

Taught in notebook ``07_ddpm``. Three facts, each computed here so the notebook can show them:

1. **DDIM** (Song et al. 2021) samples the same trained :math:`\varepsilon_\theta` on a subsequence
   :math:`T = \tau_0 > \tau_1 > \dots > \tau_n = 0` of the steps. From step t to step t' < t:

   .. math:: x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1 - \bar\alpha_{t'} - \sigma^2}\,\hat\varepsilon
             + \sigma z, \qquad \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}},
             \qquad \sigma = \eta \sqrt{\frac{1 - \bar\alpha_{t'}}{1 - \bar\alpha_t}}
             \sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_{t'}}}

   with :math:`\bar\alpha_0 = 1`. :math:`\eta = 0` is deterministic; :math:`\eta = 1` with every step
   (t' = t - 1) is DDPM's ancestral step with :math:`\sigma_t^2 = \tilde\beta_t`.

2. **DDPM is a Gaussian probability path** in the flow matching convention (time from noise, 0,
   to data, 1): :math:`t_{flow} = 1 - t/T`, :math:`\alpha = \sqrt{\bar\alpha_t}`,
   :math:`\beta = \sqrt{1 - \bar\alpha_t}` (:class:`DDPMPath`, a
   :class:`course_utils.s05_flow_matching.probability_paths.GaussianPath`). The noise prediction is a score,
   :math:`s = -\hat\varepsilon / \sqrt{1 - \bar\alpha_t}`, hence a velocity (:func:`eps_velocity`).

3. **DDIM is Euler's method on the probability-flow ODE**: in the variables
   :math:`\bar x = x / \sqrt{\bar\alpha}` and :math:`\sigma = \sqrt{(1 - \bar\alpha)/\bar\alpha}` the ODE
   reads :math:`d\bar x / d\sigma = \varepsilon(x, t)`, and one Euler step of it (:func:`euler_sigma_step`)
   is one DDIM step with :math:`\eta = 0`.

Shapes as in :mod:`~.diffusion`: points (n, d), steps ints; flow times are floats in [0, 1].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import ode
from ..core.threads import one_thread
from ..core.validation import as_points, as_tensor, check_int, check_same_shape
from ..data.mixtures import GaussianMixture
from ..s05_flow_matching.probability_paths import GaussianPath, score_to_velocity
from .diffusion import NoiseSchedule, call_eps_model, check_steps, predict_x0

__all__ = [
    "QUALITY_STEPS",
    "DDIMQuality",
    "DDIMSweep",
    "DDPMPath",
    "ddim_sample",
    "ddim_sigma",
    "ddim_step",
    "ddim_sweep",
    "ddim_quality",
    "ddim_timesteps",
    "saturated_fraction",
    "continuous_abar",
    "ddpm_time",
    "eps_velocity",
    "euler_sigma_path",
    "euler_sigma_step",
    "flow_time",
    "mixture_eps",
    "mixture_posterior",
    "mixture_x0_mean",
    "pf_ode_sample",
]


# --- DDIM -------------------------------------------------------------------------------------


def _abar_or_one(schedule: NoiseSchedule, t: int) -> Tensor:
    r""":math:`\bar\alpha_t` as a (1, 1) float64 tensor, with :math:`\bar\alpha_0 = 1`."""
    if t == 0:
        return torch.ones(1, 1, dtype=torch.float64)
    return schedule.at(schedule.abar, t)


def _abar_value(schedule: NoiseSchedule, t: int) -> float:
    r""":math:`\bar\alpha_t` as a Python float (float64), with :math:`\bar\alpha_0 = 1`: a step's coefficients computed
    as numbers cost microseconds, as (1, 1) tensors a few hundred (beside a network call of about a millisecond)."""
    return 1.0 if t == 0 else float(schedule.abar[t - 1])


def _check_pair(t, t_prev, T: int) -> tuple[int, int]:
    check_int(t, "t", what="a diffusion step")
    check_int(t_prev, "t_prev", what="a diffusion step")
    check_steps(t, T)
    if not 0 <= t_prev < t:
        raise ValueError(f"t_prev must satisfy 0 <= t_prev < t (DDIM jumps back in time); "
                         f"got t = {t}, t_prev = {t_prev}")
    return t, t_prev


def ddim_timesteps(n_steps: int, T: int, t_start: int | None = None) -> Tensor:
    r"""The DDIM subsequence :math:`\tau_0 = T > \tau_1 > \dots > \tau_n = 0`: n_steps + 1 evenly spaced, rounded steps.

    Returns int64 of shape (n_steps + 1,). n_steps = T gives every step, T, T - 1, ..., 0. ``t_start``
    (default T) starts lower, to denoise an x_t that is only partly noisy.
    """
    start = T if t_start is None else t_start
    check_steps(start, T)
    check_int(n_steps, "n_steps", 1, start, what="one step per diffusion step at most")
    return torch.linspace(start, 0, n_steps + 1, dtype=torch.float64).round().long()


def ddim_sigma(t: int, t_prev: int, schedule: NoiseSchedule, eta: float) -> Tensor:
    r"""The DDIM noise level, shape (1, 1):

    .. math:: \sigma = \eta \sqrt{(1 - \bar\alpha_{t'})/(1 - \bar\alpha_t)}\sqrt{1 - \bar\alpha_t/\bar\alpha_{t'}}

    With t' = t - 1 and :math:`\eta = 1`, :math:`\sigma^2 = \tilde\beta_t` (DDPM's posterior variance).
    At t' = 0 it is 0 for every :math:`\eta`: no noise at the last step.
    """
    t, t_prev = _check_pair(t, t_prev, schedule.T)
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM-like noise), got {eta}")
    a_t, a_prev = _abar_or_one(schedule, t), _abar_or_one(schedule, t_prev)
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()


def ddim_step(x_t, t: int, t_prev: int, eps_hat, schedule: NoiseSchedule, eta: float = 0.0, z=None,
              clip: float | None = None) -> Tensor:
    r"""One DDIM step from step t to t_prev (module docstring, fact 1).

    Args:
        x_t, eps_hat: (n, d); t: int in 1..T; t_prev: int in 0..t - 1 (0: return the data estimate).
        eta: 0 for deterministic DDIM; z: standard normal (n, d), needed when the step's sigma > 0.
        clip: clamp :math:`\hat x_0` to [-clip, clip] first (pixels in [-1, 1]) and recompute
            :math:`\hat\varepsilon` from it; None: no clamp.

    Returns:
        :math:`x_{t'}`, shape (n, d).

    Graded in exercise 7.4 (notebook ``07_ddpm``).
    """
    x_t = as_points(x_t, "x_t")
    eps_hat = as_tensor(eps_hat, "eps_hat", x_t.dtype)
    check_same_shape(x_t, eps_hat, "x_t", "eps_hat")
    t, t_prev = _check_pair(t, t_prev, schedule.T)
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM-like noise), got {eta}")
    a_t, a_prev = _abar_value(schedule, t), _abar_value(schedule, t_prev)  # float64 numbers
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))  # ddim_sigma
    x0 = (1 / math.sqrt(a_t)) * x_t - math.sqrt((1 - a_t) / a_t) * eps_hat  # diffusion.predict_x0
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps_hat = (1 / math.sqrt(1 - a_t)) * x_t - math.sqrt(a_t / (1 - a_t)) * x0  # diffusion.eps_from_x0
    out = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps_hat
    if sigma > 0:
        if z is None:
            raise ValueError("this step adds noise (eta > 0): pass z, a standard normal draw shaped like x_t")
        z = as_tensor(z, "z", x_t.dtype)
        check_same_shape(x_t, z, "x_t", "z")
        out = out + sigma * z
    return out


@torch.no_grad()
def ddim_sample(eps_model, x_T, schedule: NoiseSchedule, n_steps: int = 50, eta: float = 0.0,
                generator: torch.Generator | None = None, clip: float | None = None,
                return_path: bool = False, t_start: int | None = None) -> Tensor:
    r"""Sample with DDIM along :func:`ddim_timesteps`: n_steps network calls instead of T.

    Args:
        eps_model: ``eps_model(x (n, d), t (n,) int64) -> (n, d)``; x_T: starting noise (n, d).
        n_steps: number of steps (1..T); eta: 0 deterministic, 1 DDPM-like; generator: for z when eta > 0.
        clip: see :func:`ddim_step`; return_path: also return every state, (n_steps + 1, n, d).
        t_start: the step of the input (default T): x_T is then a noisy x_{t_start}, denoised to x_0.

    Returns:
        :math:`x_0` (n, d), or (x_0, path) with ``return_path``.
    """
    x = as_points(x_T, "x_T")
    steps = ddim_timesteps(n_steps, schedule.T, t_start).tolist()
    path = [x]
    with one_thread():
        for t, t_prev in zip(steps[:-1], steps[1:], strict=True):
            eps_hat = call_eps_model(eps_model, x, t)
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype) if eta > 0 and t_prev > 0 else None
            x = ddim_step(x, t, t_prev, eps_hat, schedule, eta, z, clip)
            if return_path:
                path.append(x)
    return (x, torch.stack(path)) if return_path else x


@dataclass(frozen=True)
class DDIMSweep:
    """DDIM samples from one starting noise for several step counts: samples {n_steps: (n, d)}, seconds {n_steps: s}."""

    samples: dict[int, Tensor]
    seconds: dict[int, float]


def ddim_sweep(eps_model, x_T, schedule: NoiseSchedule, steps_list, eta: float = 0.0, clip: float | None = None,
               seed: int = 0) -> DDIMSweep:
    """Run :func:`ddim_sample` from the same x_T (n, d) for each number of steps in ``steps_list``, timing each."""
    samples, seconds = {}, {}
    with one_thread():
        for k in steps_list:
            start = time.perf_counter()
            samples[int(k)] = ddim_sample(eps_model, x_T, schedule, int(k), eta, torch.Generator().manual_seed(seed),
                                          clip)
            seconds[int(k)] = time.perf_counter() - start
    return DDIMSweep(samples, seconds)


#: The step counts of :func:`ddim_quality` (1000 = every step of Ho et al.'s schedule).
QUALITY_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 1000)


@dataclass(frozen=True)
class DDIMQuality:
    """DDIM samples and their quality for each number of steps (what the steps demo of notebook 07 looks up).

    sweep_2d, sweep_digits: :class:`DDIMSweep`; ode_gap: {steps: mean distance of each 2-D sample to the
    accurate solution of the probability-flow ODE from the same x_T (RK4 with ``ode_steps`` steps,
    :func:`pf_ode_sample`)}: the error DDIM makes as a solver, which theory says falls with the steps (like
    1/steps); digits: {steps: :func:`course_utils.metrics.digits_quality` of the digit samples (its ``ratio``
    is about 1 for real digits and must stay under its ``budget``)}; saturated: {steps: fraction of digit
    pixels clipped to 0 or 1}.

    Exact W2 on a few hundred points cannot rank the step counts (two draws of the data differ by as much as
    the step counts do); the ODE gap has no sampling noise at all: every step count starts from the same x_T.
    """

    sweep_2d: DDIMSweep
    sweep_digits: DDIMSweep
    ode_gap: dict
    digits: dict
    saturated: dict
    ode_steps: int = 200


def saturated_fraction(pixels, tol: float = 1e-3) -> float:
    """The fraction of pixels (any shape, values in [0, 1]) within ``tol`` of 0 or 1: clipped, saturated values."""
    pixels = as_tensor(pixels, "pixels", torch.float64)
    return float(((pixels <= tol) | (pixels >= 1 - tol)).double().mean())


def ddim_quality(run_2d, run_digits, target, steps=QUALITY_STEPS, n_2d: int = 500, n_digits: int = 200,
                 seed: int = 5, ode_steps: int = 200, x_T: Tensor | None = None,
                 exact: Tensor | None = None) -> DDIMQuality:
    """Sample both trained models (:class:`~.diffusion.DDPMRun`) with DDIM (eta = 0, one shared noise
    per model) for each step count; judge the 2-D samples by their distance to the accurate probability-flow
    ODE solution from the same noise (``target``, the data mixture, is kept for the demos' plots), the digits
    (clipped to [-1, 1], ``n_digits`` >= 100) by :func:`course_utils.metrics.digits_quality` and their fraction of
    saturated pixels. ``x_T`` (n, 2): the 2-D starting noise (default ``run_2d.noise(n_2d, seed)``); ``exact``: its
    accurate ODE solution if already computed (default: :func:`pf_ode_sample`, RK4 with ``ode_steps`` steps)."""
    from ..metrics import digits_quality

    schedule = run_2d.schedule
    x_T = run_2d.noise(n_2d, seed) if x_T is None else as_points(x_T, "x_T")
    sweep_2d = ddim_sweep(run_2d.model, x_T, schedule, steps)
    if exact is None:
        exact = pf_ode_sample(run_2d.model, x_T, schedule, n_steps=ode_steps, method="rk4")
    exact = as_tensor(exact, "exact", torch.float64)
    check_same_shape(x_T, exact, "x_T", "exact")
    sweep_digits = ddim_sweep(run_digits.model, run_digits.noise(n_digits, seed), schedule, steps, clip=1.0)
    digits, saturated = {}, {}
    for k, x in sweep_digits.samples.items():
        pixels = ((x + 1) / 2).clamp(0, 1)
        digits[k] = digits_quality(pixels)
        saturated[k] = saturated_fraction(pixels)
    ode_gap = {k: float((x.double() - exact).norm(dim=1).mean()) for k, x in sweep_2d.samples.items()}
    return DDIMQuality(sweep_2d, sweep_digits, ode_gap, digits, saturated, ode_steps)


# --- DDPM in the flow matching convention ---------------------------------------------------------


def flow_time(t, T: int):
    r"""DDPM step t (0..T) to flow matching time :math:`t_{flow} = 1 - t/T` (noise at 0, data at 1)."""
    return 1 - as_tensor(t, "t", torch.float64) / T if isinstance(t, Tensor) else 1 - t / T


def ddpm_time(t_flow, T: int):
    r"""Flow matching time to a (fractional) DDPM step: :math:`t = T (1 - t_{flow})`."""
    return T * (1 - t_flow)


class DDPMPath(GaussianPath):
    r"""DDPM's noising as a Gaussian path in the flow matching convention:

    .. math:: \alpha(t_{flow}) = \sqrt{\bar\alpha_t},\quad \beta(t_{flow}) = \sqrt{1 - \bar\alpha_t},
              \quad t = T(1 - t_{flow}),

    so :math:`x = \alpha x_1 + \beta \varepsilon` is DDPM's :math:`x_t` with :math:`x_1 = x_0^{DDPM}`. Between
    whole steps :math:`\log \bar\alpha` is interpolated linearly (exact at every step). It is variance
    preserving, :math:`\alpha^2 + \beta^2 = 1`, and :math:`\alpha(0) = \sqrt{\bar\alpha_T}` is small but not 0
    (about 0.0064 for Ho et al.'s schedule): DDPM's :math:`x_T` is almost, not exactly, pure noise.
    """

    name = "ddpm"

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        self.log_abar = torch.cat([torch.zeros(1, dtype=torch.float64), schedule.abar.log()])  # (T + 1,), step 0..T
        self._last = None  # (t, its version, result): score_to_velocity asks for alpha, beta, ... at the same t

    def _log_abar(self, t_flow: Tensor) -> tuple[Tensor, Tensor]:
        """log abar at t_flow and its derivative with respect to t_flow (float64)."""
        last = self._last
        if last is not None and last[0] is t_flow and last[1] == t_flow._version:
            return last[2]
        T = self.schedule.T
        u = (T * (1 - as_tensor(t_flow, "t", torch.float64))).clamp(0, T)
        k = u.floor().long().clamp(max=T - 1)
        slope = self.log_abar[k + 1] - self.log_abar[k]  # d log abar / d u on this piece
        result = self.log_abar[k] + (u - k) * slope, -T * slope
        if isinstance(t_flow, Tensor):
            self._last = (t_flow, t_flow._version, result)
        return result

    def alpha(self, t):
        log_abar, _ = self._log_abar(t)
        return (0.5 * log_abar).exp().to(_dtype(t))

    def beta(self, t):
        log_abar, _ = self._log_abar(t)
        return (-torch.expm1(log_abar)).clamp(min=0).sqrt().to(_dtype(t))

    def d_alpha(self, t):
        log_abar, d = self._log_abar(t)
        return (0.5 * d * (0.5 * log_abar).exp()).to(_dtype(t))

    def d_beta(self, t):
        log_abar, d = self._log_abar(t)
        beta = (-torch.expm1(log_abar)).clamp(min=0).sqrt()
        return (-log_abar.exp() * d / (2 * beta)).to(_dtype(t))

    def __repr__(self) -> str:
        return f"DDPMPath({self.schedule!r})"


def _dtype(t) -> torch.dtype:
    return t.dtype if isinstance(t, Tensor) and t.is_floating_point() else torch.float64


def eps_velocity(eps_model, schedule: NoiseSchedule):
    r"""The probability-flow ODE's velocity in the flow convention, from a noise predictor.

    .. math:: s = -\frac{\hat\varepsilon(x, t)}{\beta},\qquad
              u(x) = \frac{\dot\alpha}{\alpha} x + \Big(\beta^2\frac{\dot\alpha}{\alpha} - \dot\beta\beta\Big) s
              \quad (\text{:func:`course_utils.s05_flow_matching.probability_paths.score_to_velocity`}),

    with :math:`t = T(1 - t_{flow})` (fractional between steps). Returns ``v(x (n, d), t_flow (n, 1)) -> (n, d)``,
    the signature of :mod:`course_utils.core.ode`; valid for :math:`t_{flow} < 1`.
    """
    sched = DDPMPath(schedule)

    def v(x: Tensor, t_flow: Tensor) -> Tensor:
        with one_thread():
            t_flow = t_flow.reshape(-1, 1).to(torch.float64)
            steps = ddpm_time(t_flow[:, 0], schedule.T)
            eps_hat = eps_model(x, steps.to(x.dtype)).to(torch.float64)
            score = -eps_hat / sched.beta(t_flow)
            return score_to_velocity(score, x.to(torch.float64), t_flow, sched).to(x.dtype)

    return v


@torch.no_grad()
def pf_ode_sample(eps_model, x_T, schedule: NoiseSchedule, n_steps: int = 100, method: ode.Method = "rk4",
                  return_path: bool = False) -> Tensor:
    r"""Solve the probability-flow ODE in flow time from :math:`t_{flow} = 0` (step T) to :math:`1 - 1/T` (step 1)
    with :func:`course_utils.core.ode.integrate`, then take :math:`\hat x_0` at step 1 (the last jump, as DDIM's).

    Returns x_0 (n, d), or (x_0, path (n_steps + 2, n, d)) with ``return_path``.
    """
    x = as_points(x_T, "x_T")
    with one_thread():
        path = ode.integrate(eps_velocity(eps_model, schedule), x, 0.0, flow_time(1, schedule.T), n_steps, method,
                             return_path=True)
        x1 = path[-1]
        x0 = predict_x0(x1, 1, call_eps_model(eps_model, x1, 1), schedule)
    return (x0, torch.cat([path, x0[None]])) if return_path else x0


def euler_sigma_step(x_t, t: int, t_prev: int, eps_hat, schedule: NoiseSchedule) -> Tensor:
    r"""One Euler step of the probability-flow ODE :math:`d\bar x / d\sigma = \varepsilon`, from step t to t_prev:

    .. math:: \bar x = \frac{x_t}{\sqrt{\bar\alpha_t}},\quad
              \bar x' = \bar x + (\sigma_{t'} - \sigma_t)\,\hat\varepsilon,\quad
              x_{t'} = \sqrt{\bar\alpha_{t'}}\,\bar x', \qquad \sigma_t = \sqrt{(1 - \bar\alpha_t)/\bar\alpha_t}.

    Algebraically the same as :func:`ddim_step` with eta = 0, computed another way. (n, d) -> (n, d).
    """
    x_t = as_points(x_t, "x_t")
    t, t_prev = _check_pair(t, t_prev, schedule.T)
    a_t, a_prev = _abar_value(schedule, t), _abar_value(schedule, t_prev)      # float64 numbers
    sigma_t, sigma_prev = math.sqrt((1 - a_t) / a_t), math.sqrt((1 - a_prev) / a_prev)
    x_bar = (x_t.to(torch.float64) / math.sqrt(a_t)
             + (sigma_prev - sigma_t) * as_tensor(eps_hat, "eps_hat", torch.float64))
    return (math.sqrt(a_prev) * x_bar).to(x_t.dtype)


@torch.no_grad()
def euler_sigma_path(eps_model, x_T, schedule: NoiseSchedule, n_steps: int) -> Tensor:
    """Euler's method on :math:`d\\bar x/d\\sigma = \\varepsilon` along :func:`ddim_timesteps`.

    Returns the path, (n_steps + 1, n, d).
    """
    x = as_points(x_T, "x_T")
    steps = ddim_timesteps(n_steps, schedule.T).tolist()
    path = [x]
    with one_thread():
        for t, t_prev in zip(steps[:-1], steps[1:], strict=True):
            x = euler_sigma_step(x, t, t_prev, call_eps_model(eps_model, x, t), schedule)
            path.append(x)
    return torch.stack(path)


# --- the exact denoiser of Gaussian-mixture data (Tweedie) ---------------------------------------------


def continuous_abar(t, schedule: NoiseSchedule, n: int | None = None) -> Tensor:
    r""":math:`\bar\alpha_t` for steps t that may be fractional (t in [1, T]): exact at whole steps, log-linear
    between them (as :class:`DDPMPath`). t: a number or (n,); returns float64 (n, 1)."""
    t = as_tensor(t, "t", torch.float64).reshape(-1)
    if n is not None and len(t) == 1:
        t = t.expand(n)
    if bool(((t < 1) | (t > schedule.T)).any()):
        raise ValueError(f"t must lie in 1..T = 1..{schedule.T}, got values from {float(t.min())} to {float(t.max())}")
    return DDPMPath(schedule).alpha(flow_time(t, schedule.T))[:, None] ** 2


def mixture_posterior(x, t, mixture: GaussianMixture, schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    r"""Data :math:`x_0 \sim \sum_k \pi_k \mathcal N(m_k, s_k^2 I)`: which component, and where, given :math:`x_t = x`.

    .. math:: x_t \mid k \sim \mathcal N(\sqrt{\bar\alpha_t} m_k,\ v_k I),\ v_k = \bar\alpha_t s_k^2 + 1 - \bar\alpha_t;
              \qquad E[x_0 \mid x_t, k] = m_k + \frac{\sqrt{\bar\alpha_t}\, s_k^2}{v_k}(x_t - \sqrt{\bar\alpha_t} m_k)

    x: (n, d); t: a step or (n,) steps, possibly fractional. Returns the responsibilities p(k | x_t), (n, K),
    and the conditional means, (n, K, d), float64.
    """
    x = as_points(x, "x").to(torch.float64)
    abar = continuous_abar(t, schedule, len(x))                               # (n, 1)
    var_k = abar * mixture.variances[None, :] + 1 - abar                      # (n, K)
    diff = x[:, None, :] - abar.sqrt()[:, :, None] * mixture.means[None]      # (n, K, d)
    log_r = (mixture.weights.log()[None] - 0.5 * mixture.dim * var_k.log()
             - 0.5 * (diff**2).sum(-1) / var_k)
    means = mixture.means[None] + (abar.sqrt() * mixture.variances[None, :] / var_k)[:, :, None] * diff
    return torch.softmax(log_r, dim=1), means


def mixture_x0_mean(x, t, mixture: GaussianMixture, schedule: NoiseSchedule) -> Tensor:
    r"""Tweedie's denoiser for mixture data, exactly: :math:`E[x_0 \mid x_t = x]`, (n, d) float64."""
    r, means = mixture_posterior(x, t, mixture, schedule)
    return (r[:, :, None] * means).sum(1)


def mixture_eps(x, t, mixture: GaussianMixture, schedule: NoiseSchedule) -> Tensor:
    r"""The ideal noise predictor for mixture data, :math:`E[\varepsilon \mid x_t = x]`, the minimiser of the
    DDPM loss: the noise that takes :func:`mixture_x0_mean` to x. (n, d) float64."""
    x = as_points(x, "x").to(torch.float64)
    abar = continuous_abar(t, schedule, len(x))
    return (x - abar.sqrt() * mixture_x0_mean(x, t, mixture, schedule)) / (1 - abar).sqrt()

