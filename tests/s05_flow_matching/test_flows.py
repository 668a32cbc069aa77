"""flows against SciPy's ODE solver, autograd and closed forms.

The example fields' flows against ``scipy.integrate.solve_ivp``; the finite-difference divergence against
autograd; both sides of the continuity equation against autograd of torch.distributions' mixture density.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from course_utils.data.mixtures import GaussianMixture
from course_utils.s05_flow_matching import flows, probability_paths

GEN = torch.Generator().manual_seed(0)
F64 = torch.float64
MIX = GaussianMixture(torch.tensor([0.5, 0.3, 0.2]), torch.tensor([[-1.2, 0.8], [1.3, 0.9], [0.2, -1.3]]),
                      torch.tensor([0.15, 0.25, 0.1]))


@pytest.mark.parametrize("name", list(flows.EXAMPLE_FIELDS))
def test_exact_flow_against_scipy(name):
    field = flows.example_field(name)
    x0 = torch.randn(6, 2, generator=GEN, dtype=F64) * 1.2

    def rhs(t, y):
        x = torch.from_numpy(y.reshape(-1, 2))
        return field(x, t).numpy().ravel()

    sol = solve_ivp(rhs, (0.0, 1.0), x0.numpy().ravel(), t_eval=[0.3, 0.7, 1.0], rtol=1e-10, atol=1e-12)
    for k, t in enumerate(sol.t):
        assert torch.allclose(field.flow(x0, float(t)), torch.from_numpy(sol.y[:, k].reshape(-1, 2)), atol=1e-7)
    assert torch.allclose(field.flow(x0, 0.0), x0)


def test_spiral_goes_to_the_unit_circle_and_turns_half_a_turn():
    field = flows.example_field("spiral")
    x0 = torch.tensor([[0.5, 0.0], [2.0, 0.0]], dtype=F64)
    r = field.flow(x0, 20.0).norm(dim=1)  # the radial law alone: r -> 1
    assert torch.allclose(r, torch.ones(2, dtype=F64), atol=1e-6)
    # theta_1 = omega (1 - 1/2) = pi: the point on the x axis ends on the negative x axis
    end = field.flow(x0, 1.0)
    assert float(end[0, 0]) < 0 and abs(float(end[0, 1])) < 1e-12


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_solver_errors_give_the_order(method, order):
    x0 = torch.tensor([[0.3, 0.2], [-0.8, 0.5], [1.2, -0.4]], dtype=F64)
    curve = flows.solver_errors(flows.example_field("spiral"), x0, n_steps=(16, 32, 64, 128), method=method)
    assert curve.order == pytest.approx(order, abs=0.3)
    assert curve.errors.shape == (4,) and bool((curve.errors[1:] < curve.errors[:-1]).all())
    assert torch.allclose(curve.h, 1 / torch.tensor([16.0, 32, 64, 128], dtype=F64))


def test_convergence_order_of_an_exact_power_law():
    h = torch.tensor([0.1, 0.05, 0.025])
    assert flows.convergence_order(h, 3 * h**2) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="> 0"):
        flows.convergence_order(h, torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        flows.convergence_order(h, h[:2])


def test_grid_lines_and_their_image():
    lines = flows.grid_lines(2.0, 5, 11)
    assert lines.shape == (10, 11, 2)
    assert torch.allclose(lines[0, :, 0], torch.full((11,), -2.0, dtype=F64))   # a vertical line: x fixed
    assert torch.allclose(lines[5, :, 1], torch.full((11,), -2.0, dtype=F64))   # a horizontal line: y fixed
    field = flows.example_field("saddle")
    exact = flows.push_lines(field, lines, 0.8)
    numeric = flows.push_lines(field, lines, 0.8, n_steps=100, method="rk4")
    assert exact.shape == lines.shape and torch.allclose(exact, numeric, atol=1e-8)
    # the saddle's closed form: x1 e^{t^2}, x2 e^{-t^2}
    assert torch.allclose(exact[..., 0], lines[..., 0] * math.exp(0.64))
    with pytest.raises(ValueError, match="n_steps"):
        flows.push_lines(lambda x, t: x, lines, 0.5)


def test_grid_points_layout():
    axis, pts = flows.grid_points(1.0, 3)
    assert torch.equal(axis, torch.tensor([-1.0, 0.0, 1.0], dtype=F64))
    values = pts[:, 0] + 10 * pts[:, 1]  # x + 10 y
    assert torch.equal(values.reshape(3, 3)[2, 0], torch.tensor(-1.0 + 10.0, dtype=F64))  # [y index, x index]


def _smooth_field(p):
    x, y = p[..., 0], p[..., 1]
    return torch.stack([torch.sin(x) * y**2 + torch.exp(-x * x), torch.cos(x * y) + y], dim=-1)


def test_divergence_on_grid_against_autograd():
    axis, pts = flows.grid_points(2.0, 101)
    f = _smooth_field(pts).reshape(101, 101, 2)
    jac = torch.func.vmap(torch.func.jacrev(_smooth_field))(pts)          # (n, 2, 2): d f_i / d x_j
    exact = (jac[:, 0, 0] + jac[:, 1, 1]).reshape(101, 101)
    got = flows.divergence_on_grid(f, float(axis[1] - axis[0]))
    assert got.shape == (101, 101)
    assert float((got - exact).abs().max()) < 5e-3 * float(exact.abs().max())  # O(dx^2), border included


def test_divergence_is_exact_on_a_quadratic_field():
    axis, pts = flows.grid_points(1.0, 9)
    x, y = pts[:, 0], pts[:, 1]
    f = torch.stack([x**2 + y, 3 * x * y], dim=1).reshape(9, 9, 2)
    expected = (2 * x + 3 * x).reshape(9, 9)  # d(x^2 + y)/dx + d(3xy)/dy; central differences are exact here
    assert torch.allclose(flows.divergence_on_grid(f, float(axis[1] - axis[0])), expected, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(G, G, 2\)"):
        flows.divergence_on_grid(torch.zeros(5, 5), 0.1)


def _torch_marginal(t, path):
    s = probability_paths.gaussian_path(path)
    a, b = s.alpha(t), s.beta(t)
    scale = torch.sqrt(a**2 * MIX.variances + b**2)[:, None].expand(3, 2)
    return MixtureSameFamily(Categorical(MIX.weights), Independent(Normal(a * MIX.means, scale), 1))


@pytest.mark.parametrize("path", list(probability_paths.GAUSSIAN_PATHS))
@pytest.mark.parametrize("t", [0.2, 0.5, 0.85])
def test_continuity_equation_holds_for_the_exact_mixture_path(path, t):
    density, velocity = flows.mixture_path(MIX, path)
    c = flows.continuity_check(density, velocity, t, lim=3.5, n=141)
    # dp/dt against autograd through torch.distributions' density (an independent oracle)
    _, pts = flows.grid_points(3.5, 141)
    tt = torch.tensor(t, dtype=F64, requires_grad=True)
    (dp_dt,) = torch.autograd.grad(_torch_marginal(tt, path).log_prob(pts).exp().sum(), tt)
    # autograd can only give the sum over points; compare the grid's total rate of change too
    assert float(c.dp_dt.sum()) == pytest.approx(float(dp_dt), abs=1e-6)
    t_single = torch.tensor(t, dtype=F64)
    point = pts[[3000, 9000, 12000]]
    for k, p in zip([3000, 9000, 12000], point, strict=True):
        tr = t_single.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_torch_marginal(tr, path).log_prob(p).exp(), tr)
        assert float(c.dp_dt.flatten()[k]) == pytest.approx(float(g), rel=1e-5, abs=1e-8)
    # -div(p v) by autograd of p(x) v(x) at those points
    for k, p in zip([3000, 9000, 12000], point, strict=True):
        def flux(x):
            return density(x[None], t)[0] * velocity(x[None], t)[0]

        jac = torch.func.jacrev(flux)(p)
        scale = float(c.div_flux.abs().max())  # central differences: an O(dx^2) error, relative to the largest value
        assert float(c.div_flux.flatten()[k]) == pytest.approx(float(jac.trace()), abs=5e-3 * scale)
    assert c.relative_residual < 1e-2
    assert float(c.density.sum()) * float(c.axis[1] - c.axis[0]) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_the_residual_is_a_second_order_discretisation_error():
    density, velocity = flows.mixture_path(MIX, "linear")
    coarse = flows.continuity_check(density, velocity, 0.5, lim=3.0, n=61).relative_residual
    fine = flows.continuity_check(density, velocity, 0.5, lim=3.0, n=121).relative_residual
    assert math.log2(coarse / fine) == pytest.approx(2.0, abs=0.3)


def test_a_wrong_field_breaks_the_equation():
    density, velocity = flows.mixture_path(MIX, "linear")
    good = flows.continuity_check(density, velocity, 0.5)
    bad = flows.continuity_check(density, lambda x, t: 1.5 * velocity(x, t), 0.5)
    swapped = flows.continuity_check(density, lambda x, t: velocity(x, 1 - t), 0.3)
    assert good.relative_residual < 0.02 < 0.1 < bad.relative_residual
    assert swapped.relative_residual > 0.1
    with pytest.raises(ValueError, match=r"\[t - dt, t \+ dt\]"):
        flows.continuity_check(density, velocity, 1.0)


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="unknown field"):
        flows.example_field("vortex")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        flows.example_field("spiral")(torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t must be"):
        flows.example_field("spiral")(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="n >= 3"):
        flows.grid_points(1.0, 2)
    assert np.isfinite(flows.example_field("spiral")(torch.zeros(1, 2), 0.0).numpy()).all()
