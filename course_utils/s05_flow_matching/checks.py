"""Checks for notebook 05: ODEs and flows, Gaussian probability paths, flow matching and guidance.

Each check calls the student's function on inputs drawn from a fixed-seed generator, compares
with the reference in :mod:`course_utils.core.ode`, :mod:`~.probability_paths`, :mod:`~.flows`
and :mod:`~.flow_matching`, and names the likely mistake when it can (among them the
slides' sign slip x_1 + eps, t and 1 - t swapped, a missing step size).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core import ode
from ..core.nets import TimeMLP
from ..grading.compare import (
    Mistake,
    call_with_state,
    clone_args,
    copy_with_grads,
    expect_close,
    flat_state,
    generator,
    seeded_module,
    to_plain_tensor,
    with_leftover_grads,
)
from ..grading.core import CheckFailed, register
from . import flow_matching, flows, probability_paths

SECTION = "05"
F64 = torch.float64

TIME_FLOWS = ("time runs from noise at t = 0 to data at t = 1 (the course's convention): "
              "x_t = alpha_t x_1 + beta_t eps, so for the linear path x_t = t x_1 + (1 - t) eps")
SIGN_SLIP = ("that is the slides' sign slip (see the note on the slides): the target velocity is "
             "d/dt x_t = d_alpha_t x_1 + d_beta_t eps, for the linear path x_1 - eps")
IN_PLACE = ("your function changed the caller's x0 in place (x += h * v(x, t) with x = x0 updates the very tensor "
            "that was passed in), so whoever integrates the same x0 again starts from the wrong point: start from "
            "x = x0.clone(), or write x = x + h * v(x, t), which makes a new tensor")


def _time_mlp(g: torch.Generator, **kwargs) -> TimeMLP:
    """A TimeMLP whose weights are drawn from ``g`` (see :func:`~course_utils.grading.compare.seeded_module`)."""
    return seeded_module(lambda: TimeMLP(**kwargs), g)


def _times(t, x: torch.Tensor) -> torch.Tensor:
    """A check's field accepts t as a number, (n,) or (n, 1), like a student might pass it."""
    t = torch.as_tensor(t, dtype=x.dtype)
    return t.reshape(-1, 1).expand(x.shape[0], 1) if t.numel() in (1, x.shape[0]) else t


def swirl_field(x, t):
    """A smooth time-dependent field for the Euler check: v_t(x) = sin(3t) (x2, -x1) + (1 - t) x / 2 + (0.3, 0)."""
    tt = _times(t, x)
    rot = torch.stack([x[:, 1], -x[:, 0]], dim=1)
    return torch.sin(3 * tt) * rot + 0.5 * (1 - tt) * x + torch.tensor([0.3, 0.0], dtype=x.dtype)


def _euler_variant(v, x0, t0, t1, n, h=None, steps=None, time_at="start", clock0=None, h_clock=None):
    """Euler with one deliberate change: a wrong step h (and clock step h_clock), step count, or evaluation time."""
    h_true = (t1 - t0) / n if h_clock is None else h_clock
    h = h_true if h is None else h
    steps = n if steps is None else steps
    clock0 = t0 if clock0 is None else clock0
    x = x0.clone()
    for k in range(steps):
        t = {"start": clock0 + k * h_true, "end": clock0 + (k + 1) * h_true, "frozen": clock0}[time_at]
        x = x + h * v(x, torch.full((x.shape[0], 1), t, dtype=x.dtype))
    return x


PROVIDED_EULER = ("this is still the provided function's behaviour: its step size and its number of steps are "
                  "right; compare, step by step, the time at which it asks the field for a velocity with the "
                  "slide's scheme")


@register(
    "5.1", SECTION, "Euler's scheme: find the bug", 2, "euler_integrate",
    "the provided loop takes the right number of steps of the right size; put one step of it beside the slide's "
    "x_{k+1} = x_k + h v_{t_k}(x_k): at which point (x, t) must the field be read?",
    reference=ode.integrate, kind="find-the-bug",
    hints=(
        "Euler follows the arrow found at the START of each step: step k reads the field at (x_k, t_k), then moves. "
        "Print the times the provided loop passes to v for t0 = 0, t1 = 1, n_steps = 4",
        "the provided loop reads the field at t_k + h (the end of the step) with x still at x_k; it never reads "
        "it at t0, and on a flow matching path its last step asks for u at t = 1, where beta_1 = 0",
        "h = (t1 - t0) / n_steps; for k in range(n_steps): t = torch.full((n, 1), t0 + k * h); x = x + h * v(x, t)",
    ),
)
def check_euler_integrate(fn) -> None:
    """Exercise 5.1: compares with :func:`~course_utils.core.ode.integrate`."""
    g = generator(51)
    x0 = torch.randn(16, 2, generator=g, dtype=F64)
    t0, t1, n = 0.2, 0.9, 7
    v = swirl_field
    ref = ode.integrate(v, x0, t0, t1, n, "euler")
    mistakes = [
        Mistake(_euler_variant(v, x0, t0, t1, n, h=1.0),
                "multiply the velocity by the step size h = (t1 - t0) / n_steps"),
        Mistake(_euler_variant(v, x0, t0, t1, n, h=1.0 / n, h_clock=1.0 / n),
                "the step is h = (t1 - t0) / n_steps: here the interval is [0.2, 0.9], not [0, 1]"),
        Mistake(_euler_variant(v, x0, t0, t1, n, h=1.0 / n),
                "the step is h = (t1 - t0) / n_steps: here the interval is [0.2, 0.9], not [0, 1]"),
        Mistake(_euler_variant(v, x0, t0, t1, n, steps=n - 1),
                "take n_steps steps (k = 0, ..., n_steps - 1), so that the last one lands on t1"),
        Mistake(_euler_variant(v, x0, t0, t1, n, steps=n + 1), "take exactly n_steps steps, not n_steps + 1"),
        Mistake(_euler_variant(v, x0, t0, t1, n, time_at="frozen"),
                "advance the clock: step k evaluates the field at t_k = t0 + k h, not always at t0"),
        Mistake(_euler_variant(v, x0, t0, t1, n, time_at="end"), PROVIDED_EULER),
        Mistake(_euler_variant(v, x0, t0, t1, n, clock0=0.0), "start the clock at t0, not at 0"),
    ]
    value, after = call_with_state(fn, v, x0.clone(), t0, t1, n)
    got = to_plain_tensor(value)
    if got.ndim == 3 and got.shape[1:] == x0.shape:
        raise CheckFailed("return only the final state x at t1, shape (n, d), not the whole path")
    expect_close(got, ref, what="16 points, t from 0.2 to 0.9 in 7 steps of a time-dependent field",
                 mistakes=mistakes)
    if after[1] is not None and not torch.equal(to_plain_tensor(after[1]), x0):
        raise CheckFailed(IN_PLACE)
    # backwards in time (h < 0), one step, and a field that is constant in t
    x1 = torch.randn(5, 3, generator=g, dtype=F64)
    a = torch.randn(3, 3, generator=g, dtype=F64) / 2

    def linear(x, t):
        return x @ a.T

    expect_close(fn(linear, x1.clone(), 1.0, 0.0, 4), ode.integrate(linear, x1, 1.0, 0.0, 4, "euler"),
                 what="backwards from t = 1 to t = 0 in 4 steps (h is negative), 3-D points")
    expect_close(fn(linear, x1.clone(), 0.0, 0.5, 1), x1 + 0.5 * linear(x1, 0.0), what="a single step of size 0.5")


def _path_case(seed: int):
    g = generator(seed)
    x_1 = 2 * torch.randn(32, 2, generator=g, dtype=F64) + 1
    eps = torch.randn(32, 2, generator=g, dtype=F64)
    t = torch.rand(32, 1, generator=g, dtype=F64) * 0.9 + 0.05
    return x_1, eps, t


@register(
    "5.2", SECTION, "A Gaussian path: x_t and its target velocity", 1, "sample_conditional_path",
    "x_t is the point of the path at time t for this data point and this noise; its velocity is the derivative of "
    "that expression in t, with x_1 and eps held fixed",
    reference=probability_paths.sample_path,
    hints=(
        "the path's mean is alpha_t x_1 and its standard deviation beta_t: a sample is mean + std * eps. Only "
        "alpha_t and beta_t depend on t, and the scheduler also gives their derivatives",
        "x_t = alpha_t x_1 + beta_t eps; dx_t = d_alpha_t x_1 + d_beta_t eps (for the linear path, x_1 - eps), "
        "with scheduler.alpha(t), .beta(t), .d_alpha(t), .d_beta(t)",
    ),
)
def check_sample_conditional_path(fn) -> None:
    """Exercise 5.2: compares with :func:`~course_utils.s05_flow_matching.probability_paths.sample_path`."""
    x_1, eps, t = _path_case(52)
    for name in ("linear", "cosine"):
        s = probability_paths.gaussian_path(name)
        ref = probability_paths.sample_path(x_1, t, eps, s)
        a, b, da, db = s.alpha(t), s.beta(t), s.d_alpha(t), s.d_beta(t)
        got = fn(*clone_args(x_1, eps, t), s)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed("return a pair (x_t, dx_t)")
        x_mistakes = [
            Mistake(b * x_1 + a * eps, TIME_FLOWS),
            Mistake((1 - t) * x_1 + t * eps, TIME_FLOWS),
            Mistake(a * x_1 + b**2 * eps,
                    "beta_t is the standard deviation of p_t(x | x_1): x_t = alpha_t x_1 + beta_t eps"),
            Mistake(t * x_1 + (1 - t) * eps, "use the scheduler's alpha_t and beta_t, not t and 1 - t: only the linear "
                                             "scheduler has alpha_t = t"),
        ]
        v_mistakes = [
            Mistake(da * eps - db * x_1, SIGN_SLIP),
            Mistake(x_1 + eps, SIGN_SLIP),
            Mistake(-(da * x_1 + db * eps), "sign slip: the velocity points from the noise eps towards the data x_1"),
            Mistake(db * x_1 + da * eps, TIME_FLOWS),
            Mistake(x_1 - eps,
                    "x_1 - eps is the linear path's target only: in general it is d_alpha_t x_1 + d_beta_t eps"),
            Mistake(ref.x_t - eps, "the target velocity is the time derivative of x_t: d_alpha_t x_1 + d_beta_t eps"),
        ]
        what = f"32 points at random t with the {name} scheduler"
        expect_close(got[0], ref.x_t, what=f"{what}: x_t", mistakes=x_mistakes)
        expect_close(got[1], ref.dx_t, what=f"{what}: dx_t", mistakes=v_mistakes)


def _naive_marginal(x, t, points, var, mean_scale, velocity):
    """Posterior-weighted conditional velocities with a chosen (possibly wrong) weight and field."""
    sq = ((x[:, None, :] - mean_scale * points[None]) ** 2).sum(-1)
    w = torch.softmax(-sq / (2 * var), dim=1)
    return torch.einsum("nm,nmd->nd", w, velocity(x[:, None, :], points[None]))


@register(
    "5.3", SECTION, "The marginal velocity of a finite target set", 3, "marginal_velocity_points",
    "with data made of m equally likely points, the integral over z becomes a sum over the z_i; the ratio "
    "p_t(x | z_i) p_1(z_i) / p_t(x) is the posterior probability that a sample at x came from z_i",
    reference=probability_paths.marginal_velocity, kind="build",
    hints=(
        "two ingredients per target point: the conditional field u_t(x | z_i) of the linear path (differentiate "
        "x_t = t z + (1 - t) eps and eliminate eps), and the density N(x; t z_i, (1 - t)^2 I) of p_t(x | z_i). "
        "p_t(x) is the average of those densities over i",
        "so the weights w_i(x) = N(x; t z_i, (1 - t)^2 I) / sum_j N(x; t z_j, (1 - t)^2 I) sum to 1 over i; "
        "the Gaussians' constants cancel, so work with log-densities and torch.softmax over i (near t = 1 the "
        "densities underflow to 0)",
        "w = softmax_i(-||x - t z_i||^2 / (2 (1 - t)^2)); u_t(x) = sum_i w_i(x) (z_i - x) / (1 - t)",
    ),
)
def check_marginal_velocity_points(fn) -> None:
    """Exercise 5.3: compares with :func:`~course_utils.s05_flow_matching.probability_paths.marginal_velocity`."""
    g = generator(53)
    points = 2 * torch.randn(5, 2, generator=g, dtype=F64)
    x = 1.5 * torch.randn(40, 2, generator=g, dtype=F64)
    t = 0.6
    ref = probability_paths.marginal_velocity(x, t, points, "linear")
    cond = lambda xx, z: (z - xx) / (1 - t)  # noqa: E731
    sq = ((x[:, None, :] - t * points[None]) ** 2).sum(-1)
    dens = torch.exp(-sq / (2 * (1 - t) ** 2)) / (2 * math.pi * (1 - t) ** 2)
    mistakes = [
        Mistake(cond(x[:, None, :], points[None]).mean(1),
                "that is the plain average of the conditional fields: weight each by the posterior w_i(x), "
                "large for the z_i whose path p_t(x | z_i) makes x likely"),
        Mistake(_naive_marginal(x, t, points, 1 - t, t, cond),
                "the variance of p_t(x | z) is beta_t^2 = (1 - t)^2, not 1 - t"),
        Mistake(_naive_marginal(x, t, points, (1 - t) ** 2 / 2, t, cond),
                "the Gaussian's exponent is -||x - t z||^2 / (2 (1 - t)^2): you left out the 2"),
        Mistake(_naive_marginal(x, t, points, (1 - t) ** 2, 1.0, cond),
                "the mean of p_t(x | z) is alpha_t z = t z, not z"),
        Mistake(_naive_marginal(x, t, points, (1 - t) ** 2, t, lambda xx, z: z - xx),
                "the conditional field is u_t(x | z) = (z - x) / (1 - t): you left out the 1 / (1 - t)"),
        Mistake(_naive_marginal(x, t, points, (1 - t) ** 2, t, lambda xx, z: z + 0 * xx),
                "the conditional field is u_t(x | z) = (z - x) / (1 - t), not z"),
        Mistake(torch.einsum("nm,nmd->nd", dens, cond(x[:, None, :], points[None])),
                "normalise the weights so that they sum to 1 over the target points (divide by p_t(x) "
                "times the number of points)"),
        Mistake(torch.einsum("nm,nmd->nd", dens / dens.sum(0, keepdim=True), cond(x[:, None, :], points[None])),
                "normalise over the target points i (for each x, the weights sum to 1), not over the x's"),
    ]
    expect_close(fn(*clone_args(x, t, points)), ref, what="5 target points, 40 points x, t = 0.6", mistakes=mistakes)
    expect_close(fn(*clone_args(x, 0.0, points)), points.mean(0) - x,
                 what="t = 0 (every path is still N(0, I): the weights are uniform, u_0(x) = mean(z) - x)")
    far_x = 3 * torch.randn(30, 2, generator=g, dtype=F64)
    got = to_plain_tensor(fn(*clone_args(far_x, 0.97, points)))
    if bool(torch.isnan(got).any()):
        raise CheckFailed("at t = 0.97 you returned nan: the Gaussian densities underflow to 0 and 0 / 0 = nan; "
                          "compute the weights with torch.softmax of the log-densities")
    expect_close(got, probability_paths.marginal_velocity(far_x, 0.97, points, "linear"),
                 what="t = 0.97 (narrow paths)", rtol=1e-4, atol=1e-6)


class TinyField(nn.Module):
    """A float64 velocity network for the training-step check: v(x, t) = W2 tanh(W1 [x, t] + b1) + b2."""

    def __init__(self, dim: int = 2, width: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, width), nn.Tanh(), nn.Linear(width, dim)).double()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=F64)
        t = torch.as_tensor(t, dtype=F64).reshape(-1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t], dim=1))


#: The check's plain SGD learning rate (no momentum: a parameter's change is exactly -lr * its gradient).
_LR_CFM = 0.1


def _cfm_step_case(seed: int):
    """A tiny seeded float64 field with leftover gradients, data x_1 (24, 2), noise x_0 (24, 2), times (24, 1)."""
    g = generator(seed)
    model = seeded_module(lambda: TinyField(), g)
    with_leftover_grads(model, g)
    x_1 = 2 * torch.randn(24, 2, generator=g, dtype=F64) + torch.tensor([1.0, -0.5], dtype=F64)
    x_0 = torch.randn(24, 2, generator=g, dtype=F64)
    t = 0.05 + 0.9 * torch.rand(24, 1, generator=g, dtype=F64)
    return model, x_1, x_0, t


def _fresh_field(model):
    """A copy of the network with its leftover gradients in place (deepcopy drops them) and plain SGD over it."""
    model = copy_with_grads(model)
    return model, torch.optim.SGD(model.parameters(), lr=_LR_CFM)


def _cfm_step_variant(model, x_1, x_0, t, *, x_t=None, t_in=None, target=None, reduce="norm", zero=True,
                      step=True, steps=1):
    """A CFM step with one realistic change; returns (flat parameters after, loss before)."""
    model, opt = _fresh_field(model)
    x_t = t * x_1 + (1 - t) * x_0 if x_t is None else x_t
    t_in = t if t_in is None else t_in
    target = x_1 - x_0 if target is None else target
    loss = None
    for _ in range(steps):
        diff = model(x_t, t_in) - target
        loss = {"norm": (diff**2).sum(1).mean(), "mse": (diff**2).mean(), "sum": (diff**2).sum()}[reduce]
        if zero:
            opt.zero_grad()
        loss.backward()
        if step:
            opt.step()
    return flat_state(model.state_dict()), float(loss.detach())


@register(
    "5.4", SECTION, "One step of conditional flow matching", 4, "cfm_step",
    "one iteration of the slides' training algorithm, with the batch already drawn: the point on each conditional "
    "path, the velocity the network should output there, the loss, then one optimiser step",
    reference=flow_matching.cfm_step, kind="training-step",
    hints=(
        "x_0 is the noise and x_1 the data, so the linear path is at t x_1 + (1 - t) x_0 at time t; the network sees "
        "only that point and t, and regresses the velocity of the path, its derivative in t (not a distance, not "
        "the data)",
        "the loss is the squared norm over the d coordinates, averaged over the batch (F.mse_loss averages over "
        "the coordinates too, which shrinks the step by d). The parameters may hold gradients from an earlier "
        "step: clear them before the backward pass, then step the optimiser once",
        "x_t = t * x_1 + (1 - t) * x_0; loss = ((model(x_t, t) - (x_1 - x_0)) ** 2).sum(1).mean(); "
        "optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss.item()",
    ),
)
def check_cfm_step(fn) -> None:
    """Exercise 5.4: compares with :func:`~course_utils.s05_flow_matching.flow_matching.cfm_step`.

    Runs the student's step and the reference on identical copies of a tiny seeded float64 network with
    plain SGD (lr 0.1, no momentum), whose parameters hold gradients left over from an earlier step (the
    grader's sandbox receives them too); compares every parameter after the step and the returned loss, and
    checks that the caller's batch is left as it was. The variants of :func:`_cfm_step_variant` name the mistake.
    """
    model, x_1, x_0, t = _cfm_step_case(54)
    ref_model, opt = _fresh_field(model)
    ref_loss = flow_matching.cfm_step(ref_model, opt, *clone_args(x_1, x_0, t))
    ref = flat_state(ref_model.state_dict())
    mine, opt = _fresh_field(model)
    value, after = call_with_state(fn, mine, opt, *clone_args(x_1, x_0, t))
    if not isinstance(after[0], dict):
        raise CheckFailed("the network could not be read back after your step")
    got = flat_state(after[0])
    start = flat_state(model.state_dict())

    def variant(**bug):
        return _cfm_step_variant(model, x_1, x_0, t, **bug)[0]

    swapped = (1 - t) * x_1 + t * x_0
    mistakes = [
        Mistake(start, "the network did not move: after loss.backward(), take one optimiser step (optimizer.step())"),
        Mistake(variant(zero=False), "the step also applied gradients left over from before: call "
                                     "optimizer.zero_grad() before the backward pass"),
        Mistake(variant(step=False, zero=False), "the network did not move as the reference's did: after "
                                                 "loss.backward(), call optimizer.step()"),
        Mistake(variant(target=x_1 + x_0), SIGN_SLIP.replace("eps", "x_0")),
        Mistake(variant(target=x_0 - x_1), "the network moved the wrong way: the target velocity points from the "
                                           "noise x_0 to the data x_1, x_1 - x_0"),
        Mistake(variant(target=x_1), "the network regresses the velocity x_1 - x_0, not the data x_1"),
        Mistake(variant(target=x_1 - (t * x_1 + (1 - t) * x_0)),
                "x_1 - x_t = (1 - t)(x_1 - x_0) is the distance still to travel, not the velocity d/dt x_t"),
        Mistake(variant(x_t=swapped), TIME_FLOWS.replace("eps", "x_0")),
        Mistake(variant(x_t=swapped, target=x_0 - x_1), TIME_FLOWS.replace("eps", "x_0")),
        Mistake(variant(t_in=1 - t), "give the network the time t itself, not 1 - t"),
        Mistake(variant(x_t=x_1), "evaluate the network at x_t, the point on the path, not at the data x_1"),
        Mistake(variant(x_t=x_0), "evaluate the network at x_t, the point on the path, not at the noise x_0"),
        Mistake(variant(reduce="mse"), "the step is half the reference's: the loss is the squared NORM summed over "
                                       "the 2 coordinates, averaged over the batch (F.mse_loss also averages over "
                                       "the coordinates)"),
        Mistake(variant(reduce="sum"), "the step is 24 times the reference's: average the loss over the batch, "
                                       "do not sum"),
        Mistake(variant(steps=2), "the network took two steps: one call is one optimiser step"),
    ]
    expect_close(got, ref, what="a tiny seeded network with plain SGD (lr = 0.1): its parameters after the step",
                 mistakes=mistakes)
    for name, before, later in (("x_1", x_1, after[2]), ("x_0", x_0, after[3]), ("t", t, after[4])):
        if later is not None and not torch.equal(to_plain_tensor(later), before):
            raise CheckFailed(f"your step changed the caller's {name} in place: build new tensors instead")
    if isinstance(value, torch.Tensor):
        value = to_plain_tensor(value)
        if value.numel() != 1:
            raise CheckFailed("the network is right: now return the batch loss, one number")
    expect_close(value, torch.tensor(ref_loss, dtype=F64), what="the returned loss (the batch loss before the step)",
                 mistakes=[Mistake(flow_matching.cfm_loss(ref_model, x_1, t, x_0).detach(),
                                   "return the loss computed BEFORE the step (the one the step used), not "
                                   "recomputed after it")])


def _floor_case(seed: int):
    """A finite target set (6, 2), a batch of 300 data points drawn from it, noise, and times in [0.05, 0.95]."""
    g = generator(seed)
    points = 1.5 * torch.randn(6, 2, generator=g, dtype=F64)
    idx = torch.randint(0, 6, (300,), generator=g)
    x_0 = torch.randn(300, 2, generator=g, dtype=F64)
    t = 0.05 + 0.9 * torch.rand(300, 1, generator=g, dtype=F64)
    return points, points[idx], x_0, t


@register(
    "5.5", SECTION, "The floor of the CFM loss", 3, "cfm_loss_floor",
    "Theorem 4 says L_CFM = L_FM + a constant; which network makes L_FM zero, and what is L_CFM for that network? "
    "On a finite target set you can compute that network exactly",
    reference=flow_matching.cfm_loss_floor, kind="build",
    hints=(
        "the best possible network is the marginal field u_t of exercise 5.3 (L_FM = 0 there). Its CFM loss is "
        "what is left: the conditional target x_1 - x_0 scatters around u_t(x_t), because the network sees x_t and "
        "not which x_1 it came from",
        "build x_t = t x_1 + (1 - t) x_0, evaluate the exact marginal field of the target points at (x_t, t) (your "
        "5.3, or probability_paths.marginal_velocity, which takes t of shape (n, 1)), and average the squared norm "
        "of the gap to the conditional target over the batch",
        "floor = mean_i || (x_1 - x_0)_i - u_t_i(x_t_i) ||^2 with u_t the marginal velocity of `points`; "
        "equivalently mean_i || x_1_i - E[z | x_t_i] ||^2 / (1 - t_i)^2",
    ),
)
def check_cfm_loss_floor(fn) -> None:
    """Exercise 5.5: compares with :func:`~course_utils.s05_flow_matching.flow_matching.cfm_loss_floor`."""
    points, x_1, x_0, t = _floor_case(55)
    ref = flow_matching.cfm_loss_floor(points, x_1, x_0, t)
    x_t = t * x_1 + (1 - t) * x_0
    target = x_1 - x_0
    u = probability_paths.marginal_velocity(x_t, t, points)
    plain = ((points[None] - x_t[:, None]) / (1 - t)[:, :, None]).mean(1)
    sq = lambda a: (a**2).sum(1).mean()  # noqa: E731
    mistakes = [
        Mistake(sq(target), "that is the CFM loss of the zero network, E||x_1 - x_0||^2: the floor is the loss of "
                            "the BEST network, the marginal field u_t"),
        Mistake(torch.zeros((), dtype=F64), "0 would need a network that knows x_1; it only sees x_t and t, and the "
                                            "best it can do is the marginal field u_t(x_t)"),
        Mistake(sq(target - plain), "weight the conditional fields by the posterior w_i(x_t) (exercise 5.3), not "
                                    "equally: the plain average is not the marginal field"),
        Mistake(sq(x_1 + x_0 - u), SIGN_SLIP.replace("eps", "x_0")),
        Mistake(((target - u) ** 2).mean(), "the loss is the squared NORM summed over the coordinates, averaged over "
                                            "the batch (not averaged over the coordinates too)"),
        Mistake(((target - u) ** 2).sum(), "average over the batch, do not sum"),
        Mistake(sq(target - probability_paths.marginal_velocity(x_1, t, points)),
                "evaluate the marginal field at x_t, the point the network sees, not at x_1"),
        Mistake(sq(target - probability_paths.marginal_velocity((1 - t) * x_1 + t * x_0, t, points)),
                TIME_FLOWS.replace("eps", "x_0")),
    ]
    expect_close(fn(*clone_args(points, x_1, x_0, t)), ref, what="6 target points, a batch of 300 at random times",
                 mistakes=mistakes, rtol=1e-5, atol=1e-8)
    t0 = torch.zeros(300, 1, dtype=F64)
    expect_close(fn(*clone_args(points, x_1, x_0, t0)), ((x_1 - points.mean(0)) ** 2).sum(1).mean(),
                 what="every t = 0 (x_t is pure noise: the best guess of x_1 is the mean of the points, and the floor "
                      "is the spread of the data around it)", rtol=1e-5, atol=1e-8)
    late = torch.full((300, 1), 0.9, dtype=F64)
    expect_close(fn(*clone_args(4 * points, 4 * x_1, x_0, late)),
                 flow_matching.cfm_loss_floor(4 * points, 4 * x_1, x_0, late),
                 what="points 4 times further apart, every t = 0.9 (the floor is almost 0: x_t tells which x_1)",
                 rtol=1e-4, atol=1e-8)


def smooth_field_on_grid(axis: torch.Tensor):
    """f = (sin(x) y^2 + x, cos(x + 2y) - y^3 / 3) on the grid (G, G, 2), [i, j] at (axis[j], axis[i]); and div f."""
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    f = torch.stack([torch.sin(xx) * yy**2 + xx, torch.cos(xx + 2 * yy) - yy**3 / 3], dim=-1)
    div = torch.cos(xx) * yy**2 + 1 - 2 * torch.sin(xx + 2 * yy) - yy**2
    return f, div


def _central(f: torch.Tensor, dim: int, denominator: float) -> torch.Tensor:
    """(f[k+1] - f[k-1]) / denominator along dim, on the interior (shape shrinks by 2 along dim)."""
    n = f.shape[dim]
    return (f.narrow(dim, 2, n - 2) - f.narrow(dim, 0, n - 2)) / denominator


@register(
    "5.6", SECTION, "The divergence on a grid", 2, "divergence",
    "the divergence adds, for each coordinate, the rate at which that component of f changes along that same "
    "coordinate; on a grid, a derivative is a difference of neighbouring values over their distance",
    reference=flows.divergence_on_grid,
    hints=(
        "f[i, j] sits at (x = grid[j], y = grid[i]): x varies along dim 1 (columns) and y along dim 0 (rows). "
        "Differentiate f_x = f[..., 0] along x and f_y = f[..., 1] along y (not the other way round: that mix is "
        "the curl's), and use centred differences, which are second-order accurate",
        "div f = d f_x / dx + d f_y / dy with (f[k + 1] - f[k - 1]) / (2 dx) along each axis: "
        "torch.gradient(f[..., 0], spacing=dx, dim=1)[0] + torch.gradient(f[..., 1], spacing=dx, dim=0)[0]",
    ),
)
def check_divergence(fn) -> None:
    """Exercise 5.6: compares with :func:`~course_utils.s05_flow_matching.flows.divergence_on_grid`."""
    g = generator(56)
    lim = 2.0 + 0.1 * float(torch.rand((), generator=g))
    axis = torch.linspace(-lim, lim, 201, dtype=F64)
    dx = float(axis[1] - axis[0])
    f, exact = smooth_field_on_grid(axis)
    inner = (slice(1, -1), slice(1, -1))
    got = to_plain_tensor(fn(f.clone(), dx))
    if got.shape == (201, 201, 2):
        raise CheckFailed("the divergence is one number per grid point, shape (G, G): add d f_x / dx and d f_y / dy")
    if got.shape != (201, 201):
        raise CheckFailed(f"on a 201 x 201 grid: expected shape (201, 201), got {tuple(got.shape)}")
    fx, fy = f[..., 0], f[..., 1]
    d_fx_dx, d_fy_dy = _central(fx, 1, 2 * dx)[1:-1, :], _central(fy, 0, 2 * dx)[:, 1:-1]
    d_fx_dy, d_fy_dx = _central(fx, 0, 2 * dx)[:, 1:-1], _central(fy, 1, 2 * dx)[1:-1, :]
    ref = d_fx_dx + d_fy_dy
    forward = (fx[1:-1, 2:] - fx[1:-1, 1:-1]) / dx + (fy[2:, 1:-1] - fy[1:-1, 1:-1]) / dx
    mistakes = [
        Mistake(d_fx_dy + d_fy_dx, "x varies along dim 1 (columns) and y along dim 0 (rows): f[i, j] is at "
                                   "(grid[j], grid[i]); you differentiated each component along the other axis"),
        Mistake(ref * dx, "divide the differences by the grid spacing: a derivative is a difference over a distance"),
        Mistake(ref * 2, "a central difference spans two cells: divide f[k + 1] - f[k - 1] by 2 dx, not dx"),
        Mistake(d_fy_dx - d_fx_dy, "that is the curl (rotation); the divergence adds d f_x / dx and d f_y / dy"),
        Mistake(d_fx_dx, "add the second partial derivative, d f_y / dy"),
        Mistake(d_fy_dy, "add the first partial derivative, d f_x / dx"),
        Mistake(forward, "use central differences (f[k + 1] - f[k - 1]) / (2 dx): a forward difference is only "
                         "first-order accurate and shifts the derivative by half a cell"),
    ]
    scale = float(exact.abs().max())
    expect_close(got[inner], exact[inner], what="a smooth field on a 201 x 201 grid (compared with the exact "
                 "divergence, away from the border)", mistakes=mistakes, rtol=0.0, atol=2e-3 * scale)
    axis2 = torch.linspace(-1.0, 3.0, 11, dtype=F64)
    yy, xx = torch.meshgrid(axis2, axis2, indexing="ij")
    linear = torch.stack([3 * xx + yy, 2 * xx - 0.5 * yy], dim=-1)
    got2 = to_plain_tensor(fn(linear, float(axis2[1] - axis2[0])))
    expect_close(got2[1:-1, 1:-1], torch.full((9, 9), 2.5, dtype=F64),
                 what="the linear field (3x + y, 2x - y/2) on an 11 x 11 grid (its divergence is 3 - 1/2 = 2.5)")


def _cfg_case(seed: int):
    g = generator(seed)
    model = _time_mlp(g, dim=2, width=16, depth=2, time_dim=8, n_labels=3).eval()
    x = 1.5 * torch.randn(20, 2, generator=g)
    t = torch.rand(20, 1, generator=g)
    y = torch.randint(0, 3, (20,), generator=g)
    return model, x, t, y


@register(
    "5.7", SECTION, "Classifier-free guidance", 2, "cfg_velocity",
    "one network gives both fields: the guided one with the labels y, the unguided one with the null label; "
    "then take the slide's combination with scale w",
    reference=flow_matching.cfg_velocity,
    hints=(
        "the null label is not 0 (a real class) but the extra index model.n_labels; build a label tensor like y "
        "filled with it. w = 0 must give the unguided field and w = 1 the guided one",
        "v_uncond = model(x, t, torch.full_like(y, model.n_labels)); v_cond = model(x, t, y); "
        "return (1 - w) * v_uncond + w * v_cond",
    ),
)
def check_cfg_velocity(fn) -> None:
    """Exercise 5.7: compares with :func:`~course_utils.s05_flow_matching.flow_matching.cfg_velocity`."""
    model, x, t, y = _cfg_case(57)
    with torch.no_grad():
        v_c = model(x, t, y)
        v_u = model(x, t, model.null_labels(20))
        v_zero = model(x, t, torch.zeros_like(y))
    for w in (2.5, 0.0, 1.0):
        ref = flow_matching.cfg_velocity(v_u, v_c, w)
        mistakes = [
            Mistake(w * v_u + (1 - w) * v_c, "the guidance scale w multiplies the GUIDED field v(x | y): "
                                             "(1 - w) v(x) + w v(x | y)"),
            Mistake((1 + w) * v_c - w * v_u, "that is Ho & Salimans' convention (1 + w) v(x | y) - w v(x); the slides "
                                             "write (1 - w) v(x) + w v(x | y), where w = 1 means no extra guidance"),
            Mistake(v_u + w * v_c, "the two weights must sum to 1: (1 - w) v(x) + w v(x | y)"),
            Mistake(v_c, "the unguided term v(x) = v(x | null) uses the null label model.n_labels, not y"),
            Mistake((1 - w) * v_zero + w * v_c, "the null label is the extra index model.n_labels (here 3), not 0: "
                                                "label 0 is a real class"),
        ]
        got = fn(model, *clone_args(x, t, y), w)
        expect_close(got, ref, what=f"a labelled TimeMLP (3 labels), 20 points, w = {w:g}", mistakes=mistakes,
                     rtol=1e-4, atol=1e-6)
