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

from ..grading.compare import (
    Mistake,
    call_with_state,
    clone_args,
    copy_with_grads,
    expect_close,
    generator,
    to_plain_tensor,
    with_leftover_grads,
)
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


def _abar_mistakes(x0: Tensor, t: Tensor, eps: Tensor, s: dm.NoiseSchedule) -> list[Mistake]:
    """Kernel samples with abar_t computed wrongly from the betas."""
    i = t - 1

    def with_abar(a: Tensor) -> Tensor:
        col = _col(a, i)
        return col.clamp(0, 1).sqrt() * x0 + (1 - col).clamp(0, 1).sqrt() * eps

    b = s.betas
    return [
        Mistake(with_abar(torch.cumprod(b, 0)), "abar_t multiplies the alpha_s = 1 - beta_s, not the beta_s"),
        Mistake(with_abar(torch.exp(-torch.cumsum(b, 0))),
                "exp(-sum beta_s) is the small-beta approximation of abar_t: the product prod (1 - beta_s) is exact"),
        Mistake(with_abar(1 - torch.cumsum(b, 0)), "1 - sum beta_s is a first-order approximation of abar_t: "
                                                   "multiply the alphas"),
        Mistake(with_abar(torch.cumprod(1 - b, 0).sqrt()), "abar_t is the product of the alphas themselves, "
                                                           "not of their square roots"),
    ]


@register(
    "7.1", SECTION, "Sampling the diffusion kernel q(x_t | x_0)", 1, "q_sample",
    "the kernel q(x_t | x_0) is a Gaussian with a known mean and variance: reparametrise it with the given eps, "
    "each row at its own step",
    reference=dm.q_sample, kind="warm-up",
    hints=(
        "you need abar_t for every step: alpha_t = 1 - beta_t and abar_t is their running product "
        "(torch.cumprod); entry t - 1 is abar_t, so index with t - 1 and add a trailing axis ([:, None]) to "
        "broadcast one abar per row",
        "a Gaussian N(m, v I) is reparametrised as m + sqrt(v) eps: read the mean m and the variance v off the "
        "kernel q(x_t | x_0) (v is a variance: the noise is scaled by its square root)",
        "abar = torch.cumprod(1 - betas, 0)[t - 1][:, None]; return abar.sqrt() * x0 + (1 - abar).sqrt() * eps",
    ),
)
def check_q_sample(fn) -> None:
    """Exercise 7.1: compares with :func:`~course_utils.s07_ddpm.diffusion.q_sample`."""
    s = _linear()
    x0, t, eps = _q_sample_case(72, 64, 2, s, s.T - 1)
    expect_close(fn(*clone_args(x0, t, eps, s.betas)), dm.q_sample(x0, t, eps, s),
                 what="64 points in 2-D at random steps t in 1..999",
                 mistakes=_kernel_mistakes(x0, t, eps, s) + _abar_mistakes(x0, t, eps, s))
    r = _random_schedule(73)
    x0, t, eps = _q_sample_case(74, 40, 64, r, r.T)
    t[:2] = torch.tensor([1, r.T])
    expect_close(fn(*clone_args(x0, t, eps, r.betas)), dm.q_sample(x0, t, eps, r),
                 what="40 digits (d = 64), a random schedule with T = 50, t from 1 to T",
                 mistakes=_kernel_mistakes(x0, t, eps, r) + _abar_mistakes(x0, t, eps, r))


# --- 7.2 ---------------------------------------------------------------------------------------------


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


#: The check's plain SGD learning rate (no momentum: a parameter's change is exactly -lr * its gradient).
_LR = 0.4


def _train_case(seed: int, s: dm.NoiseSchedule, n: int = 48, d: int = 3):
    """A seeded noise model holding leftover gradients, and a batch (x0 (n, d), t (n,), eps (n, d))."""
    g = generator(seed)
    model = ToyNoiseModel(d, seed + 1)
    with_leftover_grads(model, g)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64)
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    t = torch.randint(1, s.T, (n,), generator=g)
    t[0] = s.T
    return model, x0, t, eps


def _fresh_model(model):
    """A copy of the model with its leftover gradients in place, and a plain SGD optimiser over it."""
    model = copy_with_grads(model)
    return model, torch.optim.SGD(model.parameters(), lr=_LR)


def flat_state(state) -> Tensor:
    return torch.cat([to_plain_tensor(v).flatten() for v in state.values()])


def _train_variant(model, x0, t, eps, s: dm.NoiseSchedule, bug: str) -> Tensor:
    """The parameters after a training step with one realistic bug switched on (flattened)."""
    model, opt = _fresh_model(model)
    ab = _col(s.abar, t - 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    sq = lambda a, b: ((a - b) ** 2).sum(-1).mean()  # noqa: E731
    if bug == "x0_in":
        loss = sq(eps, model(x0, t))
    elif bug == "x0_target":
        loss = sq(x0, model(x_t, t))
    elif bug == "mse":
        loss = ((eps - model(x_t, t)) ** 2).mean()
    elif bug == "sum":
        loss = ((eps - model(x_t, t)) ** 2).sum()
    elif bug == "alpha":
        al = _col(s.alphas, t - 1)
        loss = sq(eps, model(al.sqrt() * x0 + (1 - al).sqrt() * eps, t))
    elif bug == "off_by_one":
        aw = _col(s.abar, t)
        loss = sq(eps, model(aw.sqrt() * x0 + (1 - aw).sqrt() * eps, t))
    elif bug == "t_over_T":
        loss = sq(eps, model(x_t, t / s.T))
    elif bug == "t_minus_1":
        loss = sq(eps, model(x_t, t - 1))
    elif bug == "variance":
        loss = sq(eps, model(ab * x0 + (1 - ab) * eps, t))
    else:
        loss = sq(eps, model(x_t, t))
    if bug != "no_zero_grad":
        opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        return flat_state(model.state_dict())


def _loss_after(model, x0, t, eps, s: dm.NoiseSchedule) -> float:
    """The loss of the batch with the parameters after the reference's step (what a late return gives)."""
    model, opt = _fresh_model(model)
    dm.ddpm_train_step(model, opt, x0, t, eps, s)
    with torch.no_grad():
        return float(dm.eps_loss(model, x0, t, eps, s))


@register(
    "7.2", SECTION, "One DDPM training step", 3, "ddpm_train_step",
    "the training algorithm's loop body on the given batch: noise the data to step t, ask the network for the "
    "noise, regress, and take one optimiser step",
    reference=dm.ddpm_train_step, kind="training-step",
    hints=(
        "x_t comes from the diffusion kernel (exercise 7.1) with the given eps; the network sees (x_t, t) and its "
        "target is the noise eps. The parameters arrive with gradients left over from an earlier step: clear them "
        "before the backward pass",
        "the loss is the slide's squared NORM, summed over the d coordinates and averaged over the batch "
        "(F.mse_loss also divides by d, which shrinks the step d times); call eps_model with the integer steps t "
        "themselves; return the loss computed before the step, as a float",
        "abar = torch.cumprod(1 - betas, 0)[t - 1][:, None]; x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps; "
        "loss = ((eps - eps_model(x_t, t)) ** 2).sum(-1).mean(); optimizer.zero_grad(); loss.backward(); "
        "optimizer.step(); return loss.item()",
    ),
)
def check_ddpm_train_step(fn) -> None:
    """Exercise 7.2: compares with :func:`~course_utils.s07_ddpm.diffusion.ddpm_train_step`.

    Runs the student's step and the reference on identical copies of a small seeded noise model with plain
    SGD (lr 0.4, no momentum), whose parameters hold gradients left over from an earlier step (the grader's
    sandbox receives them too), then compares every parameter and the returned loss; the buggy variants of
    :func:`_train_variant` name the mistake.
    """
    for k, (s, what) in enumerate(((_linear(), "48 points in 3-D, Ho et al.'s schedule"),
                                   (_random_schedule(77), "48 points in 3-D, a random schedule with T = 50"))):
        model, x0, t, eps = _train_case(75 + 3 * k, s)
        ref_model, ref_opt = _fresh_model(model)
        ref_loss = dm.ddpm_train_step(ref_model, ref_opt, x0.clone(), t.clone(), eps.clone(), s)
        with torch.no_grad():
            ref = flat_state(ref_model.state_dict())
        mine, opt = _fresh_model(model)
        value, after = call_with_state(fn, mine, opt, *clone_args(x0, t, eps, s.betas))
        if not isinstance(after[0], dict):
            raise CheckFailed("the model could not be read back after your step")
        got = flat_state(after[0])
        with torch.no_grad():
            start = flat_state(model.state_dict())

        def variant(bug, x0=x0, t=t, eps=eps, s=s, model=model):
            return _train_variant(model, x0, t, eps, s, bug)

        mistakes = [
            Mistake(start, "the parameters did not move: after loss.backward(), take the step (optimizer.step()); "
                           "zero_grad goes BEFORE backward, not between backward and step"),
            Mistake(variant("no_zero_grad"), "the step also applied gradients left over from an earlier step: "
                                             "call optimizer.zero_grad() before loss.backward()"),
            Mistake(variant("x0_in"), "eps_theta must see the NOISY point x_t built from x_0, t and eps, "
                                      "not the data x_0"),
            Mistake(variant("x0_target"), "the network predicts the noise: regress eps_model(x_t, t) on eps, "
                                          "not on x_0"),
            Mistake(variant("mse"), "the step is d times too small: the slide's loss is the squared NORM, summed over "
                                    "the d coordinates (F.mse_loss and .mean() also divide by d)"),
            Mistake(variant("sum"), "the step is n times too large: average the squared norms over the batch, "
                                    "do not sum them"),
            Mistake(variant("alpha"), ALPHA_FOR_ABAR),
            Mistake(variant("off_by_one"), OFF_BY_ONE),
            Mistake(variant("variance"), "x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: the kernel's coefficients "
                                         "are square roots"),
            Mistake(variant("t_over_T"), "call eps_model(x_t, t) with the integer steps t, not t / T"),
            Mistake(variant("t_minus_1"), "call eps_model with the step t of x_t, not t - 1"),
        ]
        expect_close(got, ref, what=f"{what}: the parameters after one SGD step (lr {_LR})", mistakes=mistakes,
                     rtol=1e-6, atol=1e-9)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            value = value.detach()
        expect_close(value, torch.tensor(ref_loss, dtype=torch.float64),
                     what=f"{what}: the returned loss (before the step)", rtol=1e-6,
                     mistakes=[Mistake(torch.tensor(_loss_after(model, x0, t, eps, s)),
                                       "that is the loss AFTER the step: return the loss the step was taken on")])


# --- 7.3 ---------------------------------------------------------------------------------------------


def _step_case(seed: int, n: int = 32, d: int = 2):
    g = generator(seed)
    return tuple(torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))


PROVIDED_BUG = ("this is still the provided function's behaviour: its mean is right, but look at the size of the "
                "noise it adds. sigma_t^2 = beta_t: is beta_t the standard deviation or the variance?")


def _ancestral_mistakes(x_t, t: int, eps_hat, z, s: dm.NoiseSchedule) -> list[Mistake]:
    def mean(i):  # the mean with the schedule read at index i (i = t - 1 is right)
        return (x_t - s.betas[i] / (1 - s.abar[i]).sqrt() * eps_hat) / s.alphas[i].sqrt()

    i = t - 1
    m = mean(i)
    beta, abar, alpha = s.betas[i], s.abar[i], s.alphas[i]
    noise = beta.sqrt() * z
    out = [
        Mistake(m + beta * z, PROVIDED_BUG),
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
    "7.3", SECTION, "Find the bug: one reverse (ancestral) step", 3, "ancestral_step",
    "the provided step has one mistake: compare each term with the sampling algorithm, and measure the noise "
    "it adds",
    reference=dm.ancestral_step, kind="find-the-bug",
    hints=(
        "the mean term and the last step (no noise at t = 1) are right; the bug is in the noise term. Measure it: "
        "with eps_hat = 0, what standard deviation does one step of the provided code add at t = T, and what "
        "should it be if sigma_t^2 = beta_t?",
        "the noise added at step t must have VARIANCE beta_t (the slide writes 'sigma_t = 1 - alpha_t', but it is "
        "the variance that is set), so its standard deviation is the square root of beta_t",
        "return mean + betas[t - 1].sqrt() * z (and the mean alone when t == 1)",
    ),
)
def check_ancestral_step(fn) -> None:
    """Exercise 7.3: compares with :func:`~course_utils.s07_ddpm.diffusion.ancestral_step`."""
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


# --- 7.4 ---------------------------------------------------------------------------------------------


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
    "7.4", SECTION, "DDIM's step, built from the marginals (eta = 0)", 3, "ddim_step",
    "keep the marginal q(x_t | x_0) and reuse the predicted noise: first estimate the clean point from x_t, then "
    "put it where the kernel would put it at step t_prev",
    reference=ddim.ddim_step, kind="build",
    hints=(
        "x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: solve it for x_0 with eps_hat in place of eps; that is "
        "x0_hat (Tweedie's denoiser). Then sample the kernel at t_prev from x0_hat, with the same noise direction "
        "eps_hat instead of a fresh draw",
        "abar at t_prev is abar[t_prev - 1], except at t_prev = 0 (clean data) where abar_0 = 1: abar[-1] would be "
        "abar_T. The coefficients are square roots of abar_t, abar_{t'} and 1 - abar (kernel variances)",
        "x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t); "
        "return sqrt(abar_{t'}) x0_hat + sqrt(1 - abar_{t'}) eps_hat, with abar_{t'} = 1 when t_prev = 0",
    ),
)
def check_ddim_step(fn) -> None:
    """Exercise 7.4: compares with :func:`~course_utils.s07_ddpm.ddim.ddim_step`."""
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


# --- 7.5 ---------------------------------------------------------------------------------------------


@register(
    "7.5", SECTION, "From noise prediction to score", 1, "eps_to_score",
    "write the kernel's score in terms of the noise that made x_t, then let the network's prediction stand in "
    "for that noise",
    reference=dm.eps_to_score, kind="warm-up",
    hints=(
        "in the kernel's score -(x_t - sqrt(abar_t) x_0) / (1 - abar_t), substitute x_t = sqrt(abar_t) x_0 + "
        "sqrt(1 - abar_t) eps: the numerator is a multiple of eps",
        "(1 - abar_t) is a variance and sqrt(1 - abar_t) the noise's standard deviation: one of them cancels. "
        "abar_t is abar[t - 1], one per row ([:, None])",
        "abar = torch.cumprod(1 - betas, 0)[t - 1][:, None]; return -eps_hat / (1 - abar).sqrt()",
    ),
)
def check_eps_to_score(fn) -> None:
    """Exercise 7.5: compares with :func:`~course_utils.s07_ddpm.diffusion.eps_to_score`."""
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
