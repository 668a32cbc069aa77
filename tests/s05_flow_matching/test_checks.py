"""The graders of section 05 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must pass; every
plausible wrong answer (the slides' sign slip x_1 + eps, t and 1 - t swapped, a missing step size, ...) must
fail with 0 points and, where the grader knows the mistake, with the sentence that teaches it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets
from scipy.special import softmax as np_softmax

from course_utils.grading import exercises
from course_utils.grading.compare import clone_args, state_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_05_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("05")] == [
        ("5.1", "euler_integrate", 2),
        ("5.2", "sample_conditional_path", 1),
        ("5.3", "marginal_velocity_points", 3),
        ("5.4", "cfm_step", 4),
        ("5.5", "cfm_loss_floor", 3),
        ("5.6", "divergence", 2),
        ("5.7", "cfg_velocity", 2),
    ]
    assert [e.kind for e in exercises("05")] == ["find-the-bug", "warm-up", "build", "training-step", "build",
                                                "warm-up", "warm-up"]
    assert all(e.hint and len(e.hints) >= 2 for e in exercises("05"))
    total = sum(e.points for e in exercises("05"))
    assert sum(e.points for e in exercises("05") if e.kind != "warm-up") >= 0.5 * total


# --- 5.1 Euler -----------------------------------------------------------------------------------


def euler_loop(v, x0, t0, t1, n):
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = x + h * v(x, torch.full((len(x), 1), t0 + k * h, dtype=x.dtype))
    return x


def euler_linspace(v, x0, t0, t1, n):
    """Times from a linspace, the step from consecutive times, in numpy."""
    times = np.linspace(t0, t1, n + 1)
    x = x0.numpy().copy()
    for a, b in zip(times[:-1], times[1:], strict=True):
        x = x + (b - a) * v(torch.from_numpy(x), torch.full((len(x), 1), a, dtype=torch.float64)).numpy()
    return torch.from_numpy(x)


def euler_float_time(v, x0, t0, t1, n):
    """Passes t as a plain float (the check's fields accept it) and updates in place on a copy."""
    x, t, h = x0.clone(), t0, (t1 - t0) / n
    for _ in range(n):
        x += h * v(x, t)
        t += h
    return x


@pytest.mark.parametrize("fn", [euler_loop, euler_linspace, euler_float_time])
def test_5_1_passes(fn):
    assert_passes("5.1", fn)


def test_5_1_passes_under_many_secrets():
    assert_passes_for_secrets("5.1", euler_linspace, n=50)


def euler_in_place(v, x0, t0, t1, n):
    """The right values, but x += ... on x = x0 overwrites the caller's x0."""
    h, x = (t1 - t0) / n, x0
    for k in range(n):
        x += h * v(x, torch.full((len(x), 1), t0 + k * h, dtype=x.dtype))
    return x


def euler_add_(v, x0, t0, t1, n):
    """The right values, with Tensor.add_ on the argument itself."""
    h = (t1 - t0) / n
    for k in range(n):
        x0.add_(h * v(x0, t0 + k * h))
    return x0.clone()


class Sandboxed:
    """Stands in for the class grader's remote function: it runs on its own copies of the arguments, so
    only what ``call_with_state`` reports shows an in-place change."""

    def __init__(self, fn):
        self.fn, self.__name__ = fn, fn.__name__

    def __call__(self, *args):
        return self.fn(*clone_args(*args))

    def call_with_state(self, args, kwargs):
        args = clone_args(*args)
        value = self.fn(*args, **kwargs)
        return value, tuple(state_of(a) for a in args)

    def call_with_grad(self, args, wrt, cotangent=None, output=None):
        raise AssertionError("not used by exercise 5.1")


@pytest.mark.parametrize("fn", [euler_in_place, euler_add_, Sandboxed(euler_in_place)])
def test_5_1_overwriting_the_callers_x0_fails_and_says_how_to_avoid_it(fn):
    r = assert_fails("5.1", fn, "changed the caller's x0 in place")
    assert "x0.clone()" in r.message and "x = x + h * v(x, t)" in r.message


def test_5_1_in_place_fails_under_every_secret_and_out_of_place_passes_in_the_sandbox_too():
    assert_fails_for_secrets("5.1", euler_in_place, n=10, hint="in place")
    assert_passes("5.1", Sandboxed(euler_loop))  # x = x + h v: a new tensor each step
    assert_passes("5.1", Sandboxed(euler_float_time))  # += on its own clone of x0


def no_step(v, x0, t0, t1, n):
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = x + v(x, torch.full((len(x), 1), t0 + k * h, dtype=x.dtype))
    return x


def unit_interval_step(v, x0, t0, t1, n):
    h = 1 / n
    x = x0
    for k in range(n):
        x = x + h * v(x, torch.full((len(x), 1), t0 + k * h, dtype=x.dtype))
    return x


def one_step_short(v, x0, t0, t1, n):
    return euler_loop(v, x0, t0, t0 + (t1 - t0) * (n - 1) / n, n - 1) if n > 1 else x0


def frozen_clock(v, x0, t0, t1, n):
    h = (t1 - t0) / n
    x = x0
    for _ in range(n):
        x = x + h * v(x, torch.full((len(x), 1), t0, dtype=x.dtype))
    return x


def end_of_step(v, x0, t0, t1, n):
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = x + h * v(x, torch.full((len(x), 1), t0 + (k + 1) * h, dtype=x.dtype))
    return x


def clock_from_zero(v, x0, t0, t1, n):
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = x + h * v(x, torch.full((len(x), 1), k * h, dtype=x.dtype))
    return x


def whole_path(v, x0, t0, t1, n):
    h, x, out = (t1 - t0) / n, x0, [x0]
    for k in range(n):
        x = x + h * v(x, torch.full((len(x), 1), t0 + k * h, dtype=x.dtype))
        out.append(x)
    return torch.stack(out)


def midpoint_instead(v, x0, t0, t1, n):
    h, x = (t1 - t0) / n, x0
    for k in range(n):
        t = torch.full((len(x), 1), t0 + k * h, dtype=x.dtype)
        x = x + h * v(x + 0.5 * h * v(x, t), t + 0.5 * h)
    return x


@pytest.mark.parametrize("fn, hint", [
    (no_step, "multiply the velocity by the step size"),
    (unit_interval_step, "not [0, 1]"),
    (one_step_short, "take n_steps steps"),
    (frozen_clock, "advance the clock"),
    (end_of_step, "still the provided function's behaviour"),
    (clock_from_zero, "start the clock at t0"),
    (whole_path, "return only the final state"),
    (midpoint_instead, None),
])
def test_5_1_fails(fn, hint):
    assert_fails("5.1", fn, hint)


# --- 5.2 the Gaussian path -------------------------------------------------------------------------


def path_direct(x_1, eps, t, s):
    return s.alpha(t) * x_1 + s.beta(t) * eps, s.d_alpha(t) * x_1 + s.d_beta(t) * eps


def path_by_autograd(x_1, eps, t, s):
    """dx_t/dt by differentiating x_t with respect to t (row i depends on t_i only: one grad per coordinate)."""
    t = t.clone().requires_grad_(True)
    x_t = s.alpha(t) * x_1 + s.beta(t) * eps
    columns = [torch.autograd.grad(x_t[:, d].sum(), t, retain_graph=True)[0] for d in range(x_t.shape[1])]
    return x_t.detach(), torch.cat(columns, dim=1)


def path_as_list(x_1, eps, t, s):
    return [torch.addcmul(s.beta(t) * eps, s.alpha(t), x_1), torch.addcmul(s.d_beta(t) * eps, s.d_alpha(t), x_1)]


@pytest.mark.parametrize("fn", [path_direct, path_by_autograd, path_as_list])
def test_5_2_passes(fn):
    assert_passes("5.2", fn)


def test_5_2_passes_under_many_secrets():
    assert_passes_for_secrets("5.2", path_by_autograd, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda x_1, eps, t, s: (s.beta(t) * x_1 + s.alpha(t) * eps, s.d_beta(t) * x_1 + s.d_alpha(t) * eps),
     "time runs from noise"),
    (lambda x_1, eps, t, s: ((1 - t) * x_1 + t * eps, eps - x_1), "time runs from noise"),
    (lambda x_1, eps, t, s: (s.alpha(t) * x_1 + s.beta(t) * eps, s.d_alpha(t) * eps - s.d_beta(t) * x_1),
     "sign slip"),
    (lambda x_1, eps, t, s: (s.alpha(t) * x_1 + s.beta(t) * eps, x_1 + eps), "sign slip"),
    (lambda x_1, eps, t, s: (s.alpha(t) * x_1 + s.beta(t) * eps, -(s.d_alpha(t) * x_1 + s.d_beta(t) * eps)),
     "points from the noise"),
    (lambda x_1, eps, t, s: (s.alpha(t) * x_1 + s.beta(t) ** 2 * eps, s.d_alpha(t) * x_1 + s.d_beta(t) * eps),
     "standard deviation"),
    (lambda x_1, eps, t, s: (t * x_1 + (1 - t) * eps, x_1 - eps), "only the linear"),
    (lambda x_1, eps, t, s: (s.alpha(t) * x_1 + s.beta(t) * eps, x_1 - eps), "linear path's target only"),
    (lambda x_1, eps, t, s: s.alpha(t) * x_1 + s.beta(t) * eps, "return a pair"),
])
def test_5_2_fails(fn, hint):
    assert_fails("5.2", fn, hint)


# --- 5.3 the marginal velocity of a finite set -------------------------------------------------------


def marginal_numpy(x, t, points):
    """With scipy's softmax and explicit loops over the target points."""
    xs, zs = x.numpy(), points.numpy()
    logits = np.stack([-((xs - t * z) ** 2).sum(1) / (2 * (1 - t) ** 2) for z in zs], axis=1)
    w = np_softmax(logits, axis=1)
    cond = np.stack([(z - xs) / (1 - t) for z in zs], axis=1)
    return torch.from_numpy((w[:, :, None] * cond).sum(1))


def marginal_posterior_mean(x, t, points):
    """v_t(x) = (E[z | x] - x) / (1 - t): the posterior mean of the target point, by logsumexp."""
    logits = -torch.cdist(x, t * points) ** 2 / (2 * (1 - t) ** 2)
    w = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))
    return (w @ points - x) / (1 - t)


def marginal_from_score(x, t, points):
    """Through the score of the mixture p_t and u = x / t + (1 - t)/t * score (t > 0); t = 0 separately."""
    if t == 0:
        return points.mean(0) - x
    w = torch.softmax(-torch.cdist(x, t * points) ** 2 / (2 * (1 - t) ** 2), dim=1)
    score = -(x - t * (w @ points)) / (1 - t) ** 2
    return x / t + (1 - t) / t * score


@pytest.mark.parametrize("fn", [marginal_numpy, marginal_posterior_mean, marginal_from_score])
def test_5_3_passes(fn):
    assert_passes("5.3", fn)


def test_5_3_passes_under_many_secrets():
    assert_passes_for_secrets("5.3", marginal_posterior_mean, n=50)


def _weights_and_cond(x, t, points, var, scale, normalise=True):
    logits = -((x[:, None, :] - scale * points[None]) ** 2).sum(-1) / (2 * var)
    w = torch.softmax(logits, dim=1) if normalise else torch.exp(logits) / (2 * math.pi * var)
    return w, (points[None] - x[:, None, :]) / (1 - t)


def naive_exp(x, t, points):
    dens = torch.exp(-((x[:, None, :] - t * points[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2))
    w = dens / dens.sum(1, keepdim=True)
    return (w[:, :, None] * (points[None] - x[:, None, :]) / (1 - t)).sum(1)


@pytest.mark.parametrize("fn, hint", [
    (lambda x, t, p: ((p[None] - x[:, None, :]) / (1 - t)).mean(1), "plain average"),
    (lambda x, t, p: (lambda w, c: (w[:, :, None] * c).sum(1))(*_weights_and_cond(x, t, p, 1 - t, t)),
     "(1 - t)^2, not 1 - t"),
    (lambda x, t, p: (lambda w, c: (w[:, :, None] * c).sum(1))(*_weights_and_cond(x, t, p, (1 - t) ** 2, 1.0)),
     "t z, not z"),
    (lambda x, t, p: (lambda w, c: (w[:, :, None] * c * (1 - t)).sum(1))(
        *_weights_and_cond(x, t, p, (1 - t) ** 2, t)), "left out the 1 / (1 - t)"),
    (lambda x, t, p: (lambda w, c: (w[:, :, None] * c).sum(1))(
        *_weights_and_cond(x, t, p, (1 - t) ** 2, t, normalise=False)), "normalise the weights"),
    (lambda x, t, p: (lambda w, c: ((w / w.sum(0, keepdim=True))[:, :, None] * c).sum(1))(
        *_weights_and_cond(x, t, p, (1 - t) ** 2, t, normalise=False)), "not over the x's"),
    (naive_exp, "nan"),
    (lambda x, t, p: (torch.softmax(-torch.cdist(x, t * p) ** 2 / (1 - t) ** 2, 1) @ p - x) / (1 - t),
     "you left out the 2"),
    (lambda x, t, p: (t * p.mean(0) - x) / (1 - t), None),
])
def test_5_3_fails(fn, hint):
    assert_fails("5.3", fn, hint)


# --- 5.4 one CFM training step ----------------------------------------------------------------------


def step_direct(model, optimizer, x_1, x_0, t):
    x_t = t * x_1 + (1 - t) * x_0
    loss = ((model(x_t, t) - (x_1 - x_0)) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_mse_times_d_and_manual_zero(model, optimizer, x_1, x_0, t):
    """F.mse_loss times d, gradients cleared by hand (set_to_none), the loss returned as a 0-d tensor."""
    for p in model.parameters():
        p.grad = None
    x_t = torch.lerp(x_0, x_1, t)
    loss = F.mse_loss(model(x_t, t), x_1 - x_0) * x_1.shape[1]
    loss.backward()
    optimizer.step()
    return loss.detach()


def step_conditional_velocity(model, optimizer, x_1, x_0, t):
    """The target written as the conditional velocity (x_1 - x_t) / (1 - t) of the path (t < 1 here)."""
    optimizer.zero_grad()
    x_t = x_0 + t * (x_1 - x_0)
    r = model(x_t, t) - (x_1 - x_t) / (1 - t)
    loss = torch.einsum("nd,nd->", r, r) / len(r)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("fn", [step_direct, step_mse_times_d_and_manual_zero, step_conditional_velocity])
def test_5_4_passes(fn):
    assert_passes("5.4", fn)


def test_5_4_passes_under_many_secrets():
    assert_passes_for_secrets("5.4", step_mse_times_d_and_manual_zero, n=50)


def _step(target=None, x_t=None, t_in=None, reduce="norm", zero=True, step=True, steps=1, after=False):
    def fn(model, optimizer, x_1, x_0, t):
        xt = t * x_1 + (1 - t) * x_0 if x_t is None else x_t(x_1, x_0, t)
        tgt = x_1 - x_0 if target is None else target(x_1, x_0, t)
        tt = t if t_in is None else t_in(t)
        for _ in range(steps):
            diff = model(xt, tt) - tgt
            loss = {"norm": (diff**2).sum(1).mean(), "mse": F.mse_loss(model(xt, tt), tgt),
                    "sum": (diff**2).sum()}[reduce]
            if zero:
                optimizer.zero_grad()
            loss.backward()
            if step:
                optimizer.step()
        if after:
            with torch.no_grad():
                return float(((model(xt, tt) - tgt) ** 2).sum(1).mean())
        return loss.item()

    return fn


@pytest.mark.parametrize("fn, hint", [
    (_step(zero=False), "call optimizer.zero_grad() before the backward pass"),
    (_step(step=False), "take one optimiser step"),
    (_step(target=lambda x_1, x_0, t: x_1 + x_0), "sign slip"),
    (_step(target=lambda x_1, x_0, t: x_0 - x_1), "moved the wrong way"),
    (_step(target=lambda x_1, x_0, t: x_1), "not the data x_1"),
    (_step(target=lambda x_1, x_0, t: (1 - t) * (x_1 - x_0)), "distance still to travel"),
    (_step(x_t=lambda x_1, x_0, t: (1 - t) * x_1 + t * x_0), "time runs from noise"),
    (_step(t_in=lambda t: 1 - t), "not 1 - t"),
    (_step(x_t=lambda x_1, x_0, t: x_1), "not at the data x_1"),
    (_step(x_t=lambda x_1, x_0, t: x_0), "not at the noise x_0"),
    (_step(reduce="mse"), "F.mse_loss"),
    (_step(reduce="sum"), "do not sum"),
    (_step(steps=2), "two steps"),
    (_step(after=True), "BEFORE the step"),
])
def test_5_4_fails(fn, hint):
    assert_fails("5.4", fn, hint)


def test_5_4_a_missing_zero_grad_fails_under_every_secret():
    assert_fails_for_secrets("5.4", _step(zero=False), n=10, hint="zero_grad")


def step_in_place_batch(model, optimizer, x_1, x_0, t):
    """Right update, but builds x_t in the caller's x_0 (x_0.mul_(1 - t).add_(t * x_1))."""
    x_1_copy, x_0_copy = x_1.clone(), x_0.clone()
    x_t = x_0.mul_(1 - t).add_(t * x_1)
    loss = ((model(x_t, t) - (x_1_copy - x_0_copy)) ** 2).sum(1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_5_4_changing_the_callers_batch_fails():
    assert_fails("5.4", step_in_place_batch, "changed the caller's x_0 in place")


# --- 5.5 the floor of the CFM loss ---------------------------------------------------------------------


def floor_marginal(points, x_1, x_0, t):
    """With the course's marginal field (exercise 5.3's reference: allowed here)."""
    from course_utils.s05_flow_matching import probability_paths

    x_t = t * x_1 + (1 - t) * x_0
    return ((x_1 - x_0 - probability_paths.marginal_velocity(x_t, t, points)) ** 2).sum(1).mean()


def floor_posterior_numpy(points, x_1, x_0, t):
    """The posterior-variance form, E||x_1 - E[z | x_t]||^2 / (1 - t)^2, in numpy with SciPy's softmax."""
    p, a, b, tt = (v.numpy() for v in (points, x_1, x_0, t))
    x_t = tt * a + (1 - tt) * b
    logits = -((x_t[:, None, :] - tt[:, :, None] * p[None]) ** 2).sum(-1) / (2 * (1 - tt) ** 2)
    mean = np_softmax(logits, axis=1) @ p
    return float((((a - mean) / (1 - tt)) ** 2).sum(1).mean())


@pytest.mark.parametrize("fn", [floor_marginal, floor_posterior_numpy])
def test_5_5_passes(fn):
    assert_passes("5.5", fn)


def test_5_5_passes_under_many_secrets():
    assert_passes_for_secrets("5.5", floor_posterior_numpy, n=50)


def _floor_wrong(kind):
    def fn(points, x_1, x_0, t):
        x_t = t * x_1 + (1 - t) * x_0
        logits = -((x_t[:, None, :] - t[:, :, None] * points[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)
        w = torch.softmax(logits, 1) if kind != "uniform" else torch.full_like(logits, 1 / len(points))
        u = torch.einsum("nm,nmd->nd", w, (points[None] - x_t[:, None]) / (1 - t)[:, :, None])
        target = x_1 + x_0 if kind == "sign" else x_1 - x_0
        gap = (target - u) ** 2
        if kind == "zero_net":
            return ((x_1 - x_0) ** 2).sum(1).mean()
        if kind == "conditional":
            return (((x_1 - x_t) / (1 - t) - (x_1 - x_0)) ** 2).sum(1).mean()
        if kind == "mse":
            return gap.mean()
        return gap.sum(1).mean()

    return fn


@pytest.mark.parametrize("kind, hint", [
    ("zero_net", "the loss of the BEST network"),
    ("conditional", "a network that knows x_1"),
    ("uniform", "weight the conditional fields by the posterior"),
    ("sign", "sign slip"),
    ("mse", "squared NORM"),
])
def test_5_5_fails(kind, hint):
    assert_fails("5.5", _floor_wrong(kind), hint)


# --- 5.6 the divergence --------------------------------------------------------------------------------


def div_gradient(f, dx):
    (a,) = torch.gradient(f[..., 0], spacing=dx, dim=1)
    (b,) = torch.gradient(f[..., 1], spacing=dx, dim=0)
    return a + b


def div_numpy_edge2(f, dx):
    fx, fy = f[..., 0].numpy(), f[..., 1].numpy()
    return torch.from_numpy(np.gradient(fx, dx, axis=1, edge_order=2) + np.gradient(fy, dx, axis=0, edge_order=2))


def div_interior_padded(f, dx):
    """Central differences by slicing, zeros on the border."""
    out = torch.zeros(f.shape[:2], dtype=f.dtype)
    out[1:-1, 1:-1] = ((f[1:-1, 2:, 0] - f[1:-1, :-2, 0]) + (f[2:, 1:-1, 1] - f[:-2, 1:-1, 1])) / (2 * dx)
    return out


def div_fourth_order(f, dx):
    """A five-point stencil in the deep interior (more accurate still), central differences next to the border."""
    out = div_gradient(f, dx)
    fx, fy = f[..., 0], f[..., 1]
    dfx = (-fx[2:-2, 4:] + 8 * fx[2:-2, 3:-1] - 8 * fx[2:-2, 1:-3] + fx[2:-2, :-4]) / (12 * dx)
    dfy = (-fy[4:, 2:-2] + 8 * fy[3:-1, 2:-2] - 8 * fy[1:-3, 2:-2] + fy[:-4, 2:-2]) / (12 * dx)
    out[2:-2, 2:-2] = dfx + dfy
    return out


@pytest.mark.parametrize("fn", [div_gradient, div_numpy_edge2, div_interior_padded, div_fourth_order])
def test_5_6_passes(fn):
    assert_passes("5.6", fn)


def test_5_6_passes_under_many_secrets():
    assert_passes_for_secrets("5.6", div_numpy_edge2, n=50)


def _grad(a, dim, dx):
    return torch.gradient(a, spacing=dx, dim=dim)[0]


@pytest.mark.parametrize("fn, hint", [
    (lambda f, dx: _grad(f[..., 0], 0, dx) + _grad(f[..., 1], 1, dx), "along the other axis"),
    (lambda f, dx: _grad(f[..., 0], 1, 1.0) + _grad(f[..., 1], 0, 1.0), "divide the differences"),
    (lambda f, dx: 2 * (_grad(f[..., 0], 1, dx) + _grad(f[..., 1], 0, dx)), "spans two cells"),
    (lambda f, dx: _grad(f[..., 1], 1, dx) - _grad(f[..., 0], 0, dx), "curl"),
    (lambda f, dx: _grad(f[..., 0], 1, dx), "add the second"),
    (lambda f, dx: _grad(f[..., 1], 0, dx), "add the first"),
    (lambda f, dx: torch.stack([_grad(f[..., 0], 1, dx), _grad(f[..., 1], 0, dx)], -1), "shape (G, G)"),
    (lambda f, dx: torch.nn.functional.pad(torch.diff(f[..., 0], dim=1) / dx, (0, 1))
     + torch.nn.functional.pad(torch.diff(f[..., 1], dim=0) / dx, (0, 0, 0, 1)), "forward difference"),
])
def test_5_6_fails(fn, hint):
    assert_fails("5.6", fn, hint)


# --- 5.7 classifier-free guidance ----------------------------------------------------------------------


def cfg_direct(model, x, t, y, w):
    null = torch.full_like(y, model.n_labels)
    return (1 - w) * model(x, t, null) + w * model(x, t, y)


def cfg_default_label(model, x, t, y, w):
    """TimeMLP treats y=None as the null label; the extrapolation form v_u + w (v_c - v_u)."""
    v_u = model(x, t)
    return v_u + w * (model(x, t, y) - v_u)


def cfg_one_pass(model, x, t, y, w):
    n = len(x)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, model.n_labels)]))
    return torch.lerp(both[n:], both[:n], w)


@pytest.mark.parametrize("fn", [cfg_direct, cfg_default_label, cfg_one_pass])
def test_5_7_passes(fn):
    assert_passes("5.7", fn)


def test_5_7_passes_under_many_secrets():
    assert_passes_for_secrets("5.7", cfg_one_pass, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda m, x, t, y, w: w * m(x, t) + (1 - w) * m(x, t, y), "multiplies the GUIDED field"),
    (lambda m, x, t, y, w: (1 + w) * m(x, t, y) - w * m(x, t), "Ho & Salimans"),
    (lambda m, x, t, y, w: m(x, t) + w * m(x, t, y), "sum to 1"),
    (lambda m, x, t, y, w: m(x, t, y), "null label model.n_labels, not y"),
    (lambda m, x, t, y, w: (1 - w) * m(x, t, torch.zeros_like(y)) + w * m(x, t, y), "not 0"),
])
def test_5_7_fails(fn, hint):
    assert_fails("5.7", fn, hint)
