"""course_utils.core.ode: the solvers' orders of accuracy on ODEs with known solutions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.core import ode


def v_linear_in_t(x, t):
    """dx/dt = t x, solved by x(t) = x(0) exp(t^2 / 2)."""
    return t * x


def rotation(x, t):
    """dx/dt = (-x2, x1): a rotation, x(t) = R(t) x(0)."""
    return torch.stack([-x[:, 1], x[:, 0]], dim=1)


X0 = torch.tensor([[1.0, -0.5], [0.3, 2.0]], dtype=torch.float64)


def error(method, n_steps, v=v_linear_in_t):
    x1 = ode.integrate(v, X0, 0.0, 1.0, n_steps, method)
    exact = X0 * math.exp(0.5) if v is v_linear_in_t else X0 @ torch.tensor(
        [[math.cos(1), math.sin(1)], [-math.sin(1), math.cos(1)]], dtype=torch.float64)
    return float((x1 - exact).abs().max())


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
@pytest.mark.parametrize("v", [v_linear_in_t, rotation])
def test_order_of_accuracy(method, order, v):
    steps = [8, 16, 32, 64]
    errs = [error(method, n, v) for n in steps]
    slope = np.polyfit(np.log(1 / np.array(steps)), np.log(errs), 1)[0]
    assert slope == pytest.approx(order, abs=0.25)


def test_path_and_backwards_integration():
    path = ode.integrate(v_linear_in_t, X0, n_steps=50, method="rk4", return_path=True)
    assert path.shape == (51, 2, 2) and torch.equal(path[0], X0)
    back = ode.integrate(v_linear_in_t, path[-1], 1.0, 0.0, n_steps=50, method="rk4")
    assert torch.allclose(back, X0, atol=1e-7)
    assert torch.allclose(ode.time_grid(4), torch.tensor([0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))


def test_vector_field_receives_times_of_shape_n_by_1():
    seen = []

    def v(x, t):
        seen.append(t.clone())
        return torch.zeros_like(x)

    ode.integrate(v, X0, n_steps=2)
    assert [tuple(t.shape) for t in seen] == [(2, 1), (2, 1)]
    assert [float(t[0, 0]) for t in seen] == [0.0, 0.5]


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="unknown method"):
        ode.integrate(rotation, X0, method="heun")
    with pytest.raises(ValueError, match="positive int"):
        ode.integrate(rotation, X0, n_steps=0)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        ode.integrate(rotation, X0[0])
    with pytest.raises(ValueError, match="must return a tensor of shape"):
        ode.integrate(lambda x, t: x[:, :1], X0)
