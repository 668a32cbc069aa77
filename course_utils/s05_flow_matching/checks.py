"""Checks for notebook 05: ODEs and flows, Gaussian probability paths, flow matching and guidance.

Each check calls the student's function on inputs drawn from a fixed-seed generator, compares
with the reference in :mod:`course_utils.core.ode`, :mod:`~.probability_paths`, :mod:`~.flows`
and :mod:`~.flow_matching`, and names the likely mistake when it can (among them the
slides' sign slip x_1 + eps, t and 1 - t swapped, a missing step size).
"""

from __future__ import annotations

import math

import torch

from ..core import ode
from ..core.nets import TimeMLP
from ..grading.compare import (
    Mistake,
    call_with_grad,
    call_with_state,
    clone_args,
    expect_close,
    generator,
    seeded_module,
    to_plain_tensor,
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


@register(
    "5.1", SECTION, "Euler's scheme", 2, "euler_integrate",
    "start at x0 and repeat n_steps times: x <- x + h v(x, t), then t <- t + h, with h = (t1 - t0) / n_steps; "
    "v takes t as a tensor of shape (n, 1)",
    reference=ode.integrate,
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
        Mistake(_euler_variant(v, x0, t0, t1, n, time_at="end"),
                "Euler evaluates the field at the START of each step, (x_k, t_k), not at t_k + h"),
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
    "5.2", SECTION, "A Gaussian path: x_t and its target velocity", 2, "sample_conditional_path",
    "x_t = alpha_t x_1 + beta_t eps, and its time derivative d_alpha_t x_1 + d_beta_t eps; "
    "call scheduler.alpha(t), .beta(t), .d_alpha(t), .d_beta(t) on the tensor t",
    reference=probability_paths.sample_path,
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
    "weight each conditional field u_t(x | z_i) = (z_i - x) / (1 - t) by w_i(x) proportional to "
    "N(x; t z_i, (1 - t)^2 I), normalised over i (torch.softmax of the log-densities is stable)",
    reference=probability_paths.marginal_velocity,
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


def _cfm_case(seed: int):
    g = generator(seed)
    model = _time_mlp(g, dim=2, width=16, depth=2, time_dim=8)
    x_1 = 2 * torch.randn(64, 2, generator=g)
    eps = torch.randn(64, 2, generator=g)
    t = torch.rand(64, 1, generator=g)
    return model, x_1, eps, t


@register(
    "5.4", SECTION, "The conditional flow matching loss", 2, "cfm_loss",
    "x_t = t x_1 + (1 - t) eps; the target is x_1 - eps (the slides' x_1 - x_0); "
    "return the batch mean of the squared norm || model(x_t, t) - target ||^2",
    reference=flow_matching.cfm_loss,
)
def check_cfm_loss(fn) -> None:
    """Exercise 5.4: compares with :func:`~course_utils.s05_flow_matching.flow_matching.cfm_loss`."""
    model, x_1, eps, t = _cfm_case(54)
    ref = flow_matching.cfm_loss(model, x_1, t, eps).detach()
    with torch.no_grad():
        x_t = t * x_1 + (1 - t) * eps
        swapped = (1 - t) * x_1 + t * eps
        v = model(x_t, t)
        sq = lambda a: (a**2).sum(1).mean()  # noqa: E731
        mistakes = [
            Mistake(sq(v - (x_1 + eps)), SIGN_SLIP),
            Mistake(sq(v - (eps - x_1)), "sign slip: the target velocity is x_1 - eps, from the noise to the data"),
            Mistake(sq(v - (x_1 - x_t)), "x_1 - x_t = (1 - t)(x_1 - eps) is the distance still to travel, not the "
                                         "velocity: on the path x_t = t x_1 + (1 - t) eps (noise at t = 0, data at "
                                         "t = 1) the conditional velocity is d/dt x_t = x_1 - eps, which is "
                                         "(x_1 - x_t) / (1 - t)"),
            Mistake(sq(v - (x_t - eps)), "x_t - eps = t (x_1 - eps) is the distance travelled so far, not the "
                                         "velocity: the conditional velocity is d/dt x_t = x_1 - eps, which is "
                                         "(x_t - eps) / t"),
            Mistake(sq(v - x_1), "the network regresses the velocity x_1 - eps, not the data x_1 (predicting x_1 "
                                 "is another parameterisation, with another loss)"),
            Mistake(sq(v - eps), "the network regresses the velocity x_1 - eps, not the noise eps (predicting eps "
                                 "is the diffusion models' parameterisation, with another loss)"),
            Mistake(sq(model(swapped, t) - (x_1 - eps)), TIME_FLOWS),
            Mistake(sq(model(swapped, t) - (eps - x_1)), TIME_FLOWS),
            Mistake(sq(model(x_t, 1 - t) - (x_1 - eps)), "give the network the time t itself, not 1 - t"),
            Mistake(((v - (x_1 - eps)) ** 2).mean(),
                    "the loss is the squared NORM summed over the coordinates, averaged over the batch "
                    "(F.mse_loss also averages over the coordinates: it is 1/d of it)"),
            Mistake(((v - (x_1 - eps)) ** 2).sum(), "average over the batch, do not sum"),
            Mistake((v - (x_1 - eps)).norm(dim=1).mean(), "square the norm"),
            Mistake(sq(model(x_1, t) - (x_1 - eps)), "evaluate the network at x_t, the point on the path, not at x_1"),
            Mistake(sq(model(eps, t) - (x_1 - eps)), "evaluate the network at x_t, the point on the path, not at eps"),
        ]
    value, grads = call_with_grad(fn, model, *clone_args(x_1, eps, t), wrt=(0,))
    expect_close(value, ref, what="a batch of 64 with a small TimeMLP", mistakes=mistakes, rtol=1e-4, atol=1e-6)
    if grads is None or any(gr is None for gr in grads[0]):
        raise CheckFailed("no gradient reaches the network's parameters: compute the loss from model(x_t, t) with "
                          "torch operations (no .item(), .detach() or torch.no_grad()), or it cannot train")
    model2, x_1b, eps_b, _ = _cfm_case(540)
    t_b = torch.full((64, 1), 0.25)
    expect_close(fn(model2, *clone_args(x_1b, eps_b, t_b)), flow_matching.cfm_loss(model2, x_1b, t_b, eps_b).detach(),
                 what="another network and batch, every t = 0.25", rtol=1e-4, atol=1e-6)


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
    "5.5", SECTION, "The divergence on a grid", 2, "divergence",
    "div f = d f_x / dx + d f_y / dy; f[i, j] sits at (x = grid[j], y = grid[i]), so x varies along dim 1 and y along "
    "dim 0; a central difference is (f[k + 1] - f[k - 1]) / (2 dx) (torch.gradient does it)",
    reference=flows.divergence_on_grid,
)
def check_divergence(fn) -> None:
    """Exercise 5.5: compares with :func:`~course_utils.s05_flow_matching.flows.divergence_on_grid`."""
    g = generator(55)
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
    "5.6", SECTION, "Classifier-free guidance", 2, "cfg_velocity",
    "call the network twice: with the labels y (guided) and with the null label model.n_labels (unguided), "
    "then combine (1 - w) v(x) + w v(x | y)",
    reference=flow_matching.cfg_velocity,
)
def check_cfg_velocity(fn) -> None:
    """Exercise 5.6: compares with :func:`~course_utils.s05_flow_matching.flow_matching.cfg_velocity`."""
    model, x, t, y = _cfg_case(56)
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
