"""Checks for notebook 07: denoising diffusion probabilistic models and DDIM.

Every exercise receives the noise schedule as ``betas``, shape (T,), with beta_t = ``betas[t - 1]``
(t = 1..T). Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.diffusion` and :mod:`~.ddim`, and names
the likely mistake: sqrt(alpha_t) where sqrt(abar_t) belongs, sigma_t = beta_t, noise at the last
step, t off by one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..grading.compare import Mistake, call_with_grad, clone_args, expect_close, generator
from ..grading.core import CheckFailed, register
from . import ddim
from . import diffusion as dm

SECTION = "07"

ALPHA_FOR_ABAR = ("that is one step of the chain, with alpha_t: the diffusion kernel q(x_t | x_0) uses "
                  "abar_t = prod_{s <= t} alpha_s (sqrt(abar_t) where you wrote sqrt(alpha_t))")
OFF_BY_ONE = ("off by one: betas[t - 1] is beta_t (the tensor starts at t = 1), so abar_t is abar[t - 1], "
              "not abar[t]")
OFF_BY_ONE_BACK = "off by one: abar_t is abar[t - 1] (you used abar_{t-1} = abar[t - 2])"


def _linear() -> dm.NoiseSchedule:
    return dm.make_schedule("linear")


def _random_schedule(seed: int, T: int = 50) -> dm.NoiseSchedule:
    """An increasing random schedule with T steps (not Ho et al.'s), so nothing can be hard-coded."""
    g = generator(seed)
    betas = torch.sort(0.002 + 0.08 * torch.rand(T, generator=g, dtype=torch.float64)).values
    return dm.NoiseSchedule(betas, "random")


def _col(values: Tensor, idx: Tensor) -> Tensor:
    """values[idx] as a column (n, 1), with any out-of-range index clamped (for wrong-answer values only)."""
    return values[idx.clamp(0, len(values) - 1)][:, None]


# --- 7.1 ---------------------------------------------------------------------------------------------


@register(
    "7.1", SECTION, "abar_t from a beta schedule", 1, "alpha_bar",
    "alpha_t = 1 - beta_t, and abar_t multiplies alpha_1, ..., alpha_t (torch.cumprod); entry t - 1 is abar_t",
    reference=dm.alpha_bar,
)
def check_alpha_bar(fn) -> None:
    """Exercise 7.1: compares with :func:`~course_utils.s07_ddpm.diffusion.alpha_bar`."""
    for s, what in ((_linear(), "Ho et al.'s linear schedule (T = 1000, beta from 1e-4 to 0.02)"),
                    (_random_schedule(71), "a random increasing schedule with T = 50")):
        b = s.betas
        mistakes = [
            Mistake(torch.cumprod(b, 0), "abar_t multiplies the alpha_s = 1 - beta_s, not the beta_s"),
            Mistake(1 - s.abar, "that is 1 - abar_t, the variance of the noise in x_t; abar_t = prod (1 - beta_s)"),
            Mistake(s.abar_prev, "off by one: entry t - 1 must be abar_t = alpha_1 ... alpha_t, including alpha_t "
                                 "(yours starts at abar_0 = 1)"),
            Mistake(s.alphas, "that is alpha_t alone: abar_t is the running product of alpha_1, ..., alpha_t"),
            Mistake(torch.exp(-torch.cumsum(b, 0)), "that is exp(-sum beta_s), the small-beta approximation: the "
                                                    "product prod (1 - beta_s) is exact"),
            Mistake(1 - torch.cumsum(b, 0), "1 - sum beta_s is a first-order approximation: multiply the alphas"),
            Mistake(s.abar.sqrt(), "that is sqrt(abar_t): abar_t multiplies the alphas themselves"),
            Mistake(s.abar[-1], "return one abar_t per step, shape (T,), not only abar_T"),
        ]
        expect_close(fn(*clone_args(b)), s.abar, what=what, mistakes=mistakes, rtol=1e-6, atol=1e-12)


# --- 7.2 ---------------------------------------------------------------------------------------------


def _q_sample_case(seed: int, n: int, d: int, s: dm.NoiseSchedule, t_max: int):
    g = generator(seed)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64) * 1.5
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    t = torch.randint(1, t_max + 1, (n,), generator=g)
    return x0, t, eps


def _kernel_mistakes(x0: Tensor, t: Tensor, eps: Tensor, s: dm.NoiseSchedule) -> list[Mistake]:
    i = t - 1
    ab, al = _col(s.abar, i), _col(s.alphas, i)
    return [
        Mistake(al.sqrt() * x0 + (1 - al).sqrt() * eps, ALPHA_FOR_ABAR),
        Mistake(_col(s.abar, t).sqrt() * x0 + (1 - _col(s.abar, t)).sqrt() * eps, OFF_BY_ONE),
        Mistake(_col(s.abar_prev, i).sqrt() * x0 + (1 - _col(s.abar_prev, i)).sqrt() * eps, OFF_BY_ONE_BACK),
        Mistake(ab.sqrt() * x0 + (1 - ab) * eps, "1 - abar_t is the VARIANCE of the noise: multiply eps by its "
                                                  "square root, sqrt(1 - abar_t)"),
        Mistake(ab * x0 + (1 - ab).sqrt() * eps, "the mean of q(x_t | x_0) is sqrt(abar_t) x_0, not abar_t x_0"),
        Mistake(x0 + (1 - ab).sqrt() * eps, "the signal shrinks as noise grows: the mean is sqrt(abar_t) x_0"),
        Mistake((1 - ab).sqrt() * x0 + ab.sqrt() * eps, "x_0 and eps are swapped: x_0 gets sqrt(abar_t)"),
    ]


@register(
    "7.2", SECTION, "Sampling the diffusion kernel q(x_t | x_0)", 2, "q_sample",
    "x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, with abar_t = abar[t - 1]; index with the tensor t and add "
    "a trailing axis ([:, None]) so that each row gets its own abar_t",
    reference=dm.q_sample,
)
def check_q_sample(fn) -> None:
    """Exercise 7.2: compares with :func:`~course_utils.s07_ddpm.diffusion.q_sample`."""
    s = _linear()
    x0, t, eps = _q_sample_case(72, 64, 2, s, s.T - 1)
    expect_close(fn(*clone_args(x0, t, eps, s.betas)), dm.q_sample(x0, t, eps, s),
                 what="64 points in 2-D at random steps t in 1..999", mistakes=_kernel_mistakes(x0, t, eps, s))
    r = _random_schedule(73)
    x0, t, eps = _q_sample_case(74, 40, 64, r, r.T)
    t[:2] = torch.tensor([1, r.T])
    expect_close(fn(*clone_args(x0, t, eps, r.betas)), dm.q_sample(x0, t, eps, r),
                 what="40 digits (d = 64), a random schedule with T = 50, t from 1 to T",
                 mistakes=_kernel_mistakes(x0, t, eps, r))


# --- 7.3 ---------------------------------------------------------------------------------------------


class ToyNoiseModel(nn.Module):
    """A stand-in for eps_theta(x_t, t): tanh(W x + b) + sin(t / 50) u, so it depends on x_t and on the step t."""

    def __init__(self, dim: int, seed: int):
        super().__init__()
        g = generator(seed)
        self.weight = nn.Parameter(0.6 * torch.randn(dim, dim, generator=g, dtype=torch.float64))
        self.bias = nn.Parameter(0.3 * torch.randn(dim, generator=g, dtype=torch.float64))
        self.u = nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))

    def forward(self, x: Tensor, t) -> Tensor:
        t = torch.as_tensor(t).to(x.dtype).reshape(-1, 1)
        return torch.tanh(x @ self.weight.T + self.bias) + torch.sin(t / 50) * self.u


def _loss_mistakes(model, x0, t, eps, s: dm.NoiseSchedule) -> list[Mistake]:
    i = t - 1
    ab, al = _col(s.abar, i), _col(s.alphas, i)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    sq = lambda a, b: ((a - b) ** 2).sum(-1).mean()  # noqa: E731
    with torch.no_grad():
        x_wrong = _col(s.abar, t).sqrt() * x0 + (1 - _col(s.abar, t)).sqrt() * eps
        return [
            Mistake(sq(eps, model(x0, t)), "eps_theta sees the NOISY point x_t = sqrt(abar_t) x_0 + "
                                           "sqrt(1 - abar_t) eps, not the data x_0"),
            Mistake(sq(x0, model(x_t, t)), "the network predicts the noise: compare eps_theta(x_t, t) with eps, "
                                           "not with x_0"),
            Mistake(((eps - model(x_t, t)) ** 2).mean(), "the slide's loss is the squared NORM ||eps - eps_theta||^2: "
                                                         "sum over the d coordinates, then average over the batch "
                                                         "(F.mse_loss also divides by d)"),
            Mistake(((eps - model(x_t, t)) ** 2).sum(), "average the squared norms over the batch, do not sum them"),
            Mistake((eps - model(x_t, t)).norm(dim=-1).mean(), "square the norm: ||eps - eps_theta||^2"),
            Mistake(sq(eps, model(al.sqrt() * x0 + (1 - al).sqrt() * eps, t)), ALPHA_FOR_ABAR),
            Mistake(sq(eps, model(x_wrong, t)), OFF_BY_ONE),
            Mistake(sq(eps, model(x_t, t / s.T)), "call eps_model(x_t, t) with the step t itself (an integer in 1..T), "
                                                  "not t / T"),
            Mistake(sq(eps, model(x_t, t - 1)), "call eps_model with the step t of x_t, not t - 1"),
        ]


@register(
    "7.3", SECTION, "The DDPM training loss", 2, "ddpm_loss",
    "noise x_0 to x_t with the kernel, ask eps_model(x_t, t) for the noise, and average ||eps - eps_theta||^2 "
    "(a sum over coordinates) over the batch",
    reference=dm.eps_loss,
)
def check_ddpm_loss(fn) -> None:
    """Exercise 7.3: compares with :func:`~course_utils.s07_ddpm.diffusion.eps_loss`."""
    s = _linear()
    g = generator(75)
    x0 = torch.randn(48, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(48, 3, generator=g, dtype=torch.float64)
    t = torch.randint(1, s.T, (48,), generator=g)
    model = ToyNoiseModel(3, 76)
    with torch.no_grad():
        ref = dm.eps_loss(model, x0, t, eps, s)
    value, grads = call_with_grad(fn, model, *clone_args(x0, t, eps, s.betas), wrt=(0,))
    if grads is None or grads[0] is None or all(gr is None for gr in grads[0]):
        raise CheckFailed("no gradient reaches the network's parameters: compute the loss with torch operations "
                          "on eps_model's output (no .item(), .detach() or numpy), or it cannot train")
    expect_close(value, ref, what="48 points in 3-D at random steps and a small noise model",
                 mistakes=_loss_mistakes(model, x0, t, eps, s), rtol=1e-6)
    if any(gr is None for gr in grads[0]):
        raise CheckFailed("some of the network's parameters receive no gradient: call eps_model on the whole batch")
    r = _random_schedule(77)
    t2 = torch.randint(1, r.T + 1, (48,), generator=g)
    t2[0] = r.T
    with torch.no_grad():
        expect_close(fn(model, *clone_args(x0, t2, eps, r.betas)), dm.eps_loss(model, x0, t2, eps, r),
                     what="a random schedule with T = 50, t up to T", rtol=1e-6)


# --- 7.4 ---------------------------------------------------------------------------------------------


def _step_case(seed: int, n: int = 32, d: int = 2):
    g = generator(seed)
    return tuple(torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))


def _ancestral_mistakes(x_t, t: int, eps_hat, z, s: dm.NoiseSchedule) -> list[Mistake]:
    def mean(i):  # the mean with the schedule read at index i (i = t - 1 is right)
        return (x_t - s.betas[i] / (1 - s.abar[i]).sqrt() * eps_hat) / s.alphas[i].sqrt()

    i = t - 1
    m = mean(i)
    beta, abar, alpha = s.betas[i], s.abar[i], s.alphas[i]
    noise = beta.sqrt() * z
    out = [
        Mistake(m + beta * z, "the slide's slip: sigma_t^2 = beta_t is a VARIANCE, so the noise is "
                              "sqrt(beta_t) z, not beta_t z (nor (1 - alpha_t) z)"),
        Mistake(m + s.posterior_variance[i].sqrt() * z,
                "that is sigma_t^2 = beta tilde_t (the posterior variance), Ho et al.'s other choice: this course "
                "uses sigma_t^2 = beta_t"),
        Mistake((x_t - beta / (1 - abar).sqrt() * eps_hat) / abar.sqrt() + noise,
                "divide by sqrt(alpha_t) (one step back), not sqrt(abar_t)"),
        Mistake((x_t - beta / (1 - abar) * eps_hat) / alpha.sqrt() + noise,
                "the coefficient of eps is (1 - alpha_t) / sqrt(1 - abar_t): you forgot the square root"),
        Mistake((x_t - beta / (1 - alpha).sqrt() * eps_hat) / alpha.sqrt() + noise, ALPHA_FOR_ABAR),
        Mistake((x_t + beta / (1 - abar).sqrt() * eps_hat) / alpha.sqrt() + noise,
                "sign slip: the step REMOVES the predicted noise, x_t - (1 - alpha_t) / sqrt(1 - abar_t) eps_hat"),
        Mistake((x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt(), "that is x0_hat, the jump to the data estimate: "
                                                                   "the reverse step goes one step back, to t - 1"),
        Mistake(m - noise, "add sigma_t z (z is the draw you were given), do not subtract it"),
        Mistake(m, "add the noise sigma_t z at every step but the last (t = 1)"),
    ]
    if t < s.T:
        out.append(Mistake(mean(t) + s.betas[t].sqrt() * z, OFF_BY_ONE))
    if t > 1:
        out.append(Mistake(mean(t - 2) + s.betas[t - 2].sqrt() * z, OFF_BY_ONE_BACK))
    return out


@register(
    "7.4", SECTION, "One reverse (ancestral) step", 3, "ancestral_step",
    "x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t) + sigma_t z with sigma_t^2 = beta_t "
    "(a variance), and z = 0 at the last step, t = 1",
    reference=dm.ancestral_step,
)
def check_ancestral_step(fn) -> None:
    """Exercise 7.4: compares with :func:`~course_utils.s07_ddpm.diffusion.ancestral_step`."""
    s = _linear()
    for k, t in enumerate((500, 2, s.T)):
        x_t, eps_hat, z = _step_case(78 + k)
        ref = dm.ancestral_step(x_t, t, eps_hat, z, s)
        expect_close(fn(*clone_args(x_t), t, *clone_args(eps_hat, z, s.betas)), ref,
                     what=f"32 points at t = {t}", mistakes=_ancestral_mistakes(x_t, t, eps_hat, z, s))
    x_t, eps_hat, z = _step_case(81)
    ref = dm.ancestral_step(x_t, 1, eps_hat, z, s)
    last = [Mistake(ref + s.betas[0].sqrt() * z,
                    "no noise at the last step: at t = 1 return the mean, as Ho et al.'s Algorithm 2 does "
                    "(z = 0 when t = 1; the slide's loop adds sigma(t) z at every step)"),
            Mistake(ref + s.betas[0] * z, "no noise at the last step (t = 1): return the mean")]
    expect_close(fn(*clone_args(x_t), 1, *clone_args(eps_hat, z, s.betas)), ref,
                 what="the last step, t = 1 (z is given but must not be used)", mistakes=last)
    r = _random_schedule(82)
    x_t, eps_hat, z = _step_case(83, d=64)
    expect_close(fn(*clone_args(x_t), 20, *clone_args(eps_hat, z, r.betas)), dm.ancestral_step(x_t, 20, eps_hat, z, r),
                 what="digits (d = 64) at t = 20 of a random schedule with T = 50",
                 mistakes=_ancestral_mistakes(x_t, 20, eps_hat, z, r))


# --- 7.5 ---------------------------------------------------------------------------------------------


def _ddim_mistakes(x_t, t: int, t_prev: int, eps_hat, s: dm.NoiseSchedule) -> list[Mistake]:
    def step(a_t, a_prev, eps_coef=None):
        x0 = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
        return a_prev.sqrt() * x0 + ((1 - a_prev).sqrt() if eps_coef is None else eps_coef) * eps_hat

    one = torch.ones((), dtype=torch.float64)
    a_t = s.abar[t - 1]
    a_prev = s.abar[t_prev - 1] if t_prev > 0 else one
    out = [
        Mistake(step(s.alphas[t - 1], a_prev), "x0_hat inverts the kernel q(x_t | x_0): use abar_t, not alpha_t"),
        Mistake(step(a_t, s.abar[t - 2]), "jump to t_prev, not to t - 1: DDIM skips steps, so use abar at t_prev"),
        Mistake(step(a_t, a_prev, torch.zeros(())), "add the direction back to x_t, sqrt(1 - abar_{t'}) eps_hat: "
                                                    "without it you return only the (scaled) data estimate"),
        Mistake(step(a_t, a_prev, 1 - a_prev), "1 - abar_{t'} is a variance: the noise direction is "
                                               "sqrt(1 - abar_{t'}) eps_hat"),
        Mistake(step(a_t, a_prev, (1 - a_t).sqrt()), "the direction term puts back the noise level of t_prev: "
                                                     "sqrt(1 - abar_{t'}) eps_hat with abar at t_prev, not at t"),
        Mistake(a_prev.sqrt() * (x_t + (1 - a_t).sqrt() * eps_hat) / a_t.sqrt() + (1 - a_prev).sqrt() * eps_hat,
                "sign slip: x0_hat removes the noise, (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)"),
    ]
    if t_prev == 0:
        out.insert(0, Mistake(step(a_t, s.abar[-1]), "at t_prev = 0 use abar_0 = 1 (clean data): abar[t_prev - 1] "
                                                     "with t_prev = 0 is abar[-1], which Python reads as abar_T!"))
    if t < s.T:
        out.append(Mistake(step(s.abar[t], s.abar[t_prev]), OFF_BY_ONE))
    return out


@register(
    "7.5", SECTION, "One DDIM step (eta = 0)", 2, "ddim_step",
    "estimate x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t), then move it to step t_prev: "
    "sqrt(abar_{t'}) x0_hat + sqrt(1 - abar_{t'}) eps_hat, with abar_0 = 1 when t_prev = 0",
    reference=ddim.ddim_step,
)
def check_ddim_step(fn) -> None:
    """Exercise 7.5: compares with :func:`~course_utils.s07_ddpm.ddim.ddim_step`."""
    s = _linear()
    for k, (t, t_prev) in enumerate(((800, 600), (s.T, s.T - 20), (60, 0))):
        x_t, eps_hat, _ = _step_case(84 + k)
        ref = ddim.ddim_step(x_t, t, t_prev, eps_hat, s)
        expect_close(fn(*clone_args(x_t), t, t_prev, *clone_args(eps_hat, s.betas)), ref,
                     what=f"32 points from t = {t} to t_prev = {t_prev}",
                     mistakes=_ddim_mistakes(x_t, t, t_prev, eps_hat, s))
    r = _random_schedule(87)
    x_t, eps_hat, _ = _step_case(88, d=64)
    expect_close(fn(*clone_args(x_t), 30, 10, *clone_args(eps_hat, r.betas)), ddim.ddim_step(x_t, 30, 10, eps_hat, r),
                 what="digits (d = 64) from t = 30 to 10 of a random schedule with T = 50",
                 mistakes=_ddim_mistakes(x_t, 30, 10, eps_hat, r))


# --- 7.6 ---------------------------------------------------------------------------------------------


@register(
    "7.6", SECTION, "From noise prediction to score", 1, "eps_to_score",
    "the kernel's score is -(x_t - sqrt(abar_t) x_0) / (1 - abar_t) = -eps / sqrt(1 - abar_t); abar_t = abar[t - 1]",
    reference=dm.eps_to_score,
)
def check_eps_to_score(fn) -> None:
    """Exercise 7.6: compares with :func:`~course_utils.s07_ddpm.diffusion.eps_to_score`."""
    for k, s in enumerate((_linear(), _random_schedule(89))):
        g = generator(90 + k)
        eps_hat = torch.randn(40, 2, generator=g, dtype=torch.float64)
        t = torch.randint(1, s.T, (40,), generator=g)
        i = t - 1
        ab, al = _col(s.abar, i), _col(s.alphas, i)
        mistakes = [
            Mistake(-eps_hat / (1 - ab), "divide by the standard deviation sqrt(1 - abar_t), not the variance"),
            Mistake(eps_hat / (1 - ab).sqrt(), "sign: the score points back towards the data, against the noise, "
                                               "s = -eps / sqrt(1 - abar_t)"),
            Mistake(-eps_hat * (1 - ab).sqrt(), "divide by sqrt(1 - abar_t), do not multiply"),
            Mistake(-eps_hat / ab.sqrt(), "the noise's standard deviation in x_t is sqrt(1 - abar_t), "
                                          "not sqrt(abar_t)"),
            Mistake(-eps_hat / (1 - al).sqrt(), ALPHA_FOR_ABAR),
            Mistake(-eps_hat / (1 - _col(s.abar, t)).sqrt(), OFF_BY_ONE),
        ]
        expect_close(fn(*clone_args(eps_hat, t, s.betas)), dm.eps_to_score(eps_hat, t, s),
                     what=f"40 noise predictions at random steps ({s.name} schedule, T = {s.T})", mistakes=mistakes)
    # the score of the kernel itself, by autograd: a closed form the student's answer must reproduce
    s = _linear()
    g = generator(92)
    x0, eps = torch.randn(8, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    t = torch.full((8,), 250)
    x_t = dm.q_sample(x0, t, eps, s).requires_grad_(True)
    a = float(s.abar[249])
    log_q = (-(x_t - math.sqrt(a) * x0) ** 2 / (2 * (1 - a))).sum()
    (score,) = torch.autograd.grad(log_q, x_t)
    expect_close(fn(*clone_args(eps, t, s.betas)), score,
                 what="the true noise at t = 250 (the answer must equal grad log q(x_t | x_0))")
