"""transport: our LP against POT's ot.emd / ot.emd2, the marginals, duality and SciPy in 1-D."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from scipy.stats import wasserstein_distance

from course_utils.s04_wasserstein import transport as T


def clouds(seed: int, n: int = 12, m: int = 9, d: int = 2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + 1.0
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    b = torch.rand(m, generator=g, dtype=torch.float64) + 0.1
    return x, y, a / a.sum(), b / b.sum()


def test_cost_matrix_is_pot_dist():
    x, y, _, _ = clouds(0)
    assert torch.allclose(T.cost_matrix(x, y), torch.from_numpy(ot.dist(x.numpy(), y.numpy(), metric="euclidean")))
    assert torch.allclose(T.cost_matrix(x, y, 2.0), torch.from_numpy(ot.dist(x.numpy(), y.numpy())))


@pytest.mark.parametrize("seed", range(4))
def test_our_lp_matches_pot_emd2_and_its_plan_is_a_coupling(seed):
    x, y, a, b = clouds(seed)
    cost = T.cost_matrix(x, y)
    ours = T.solve_ot_lp(a, b, cost)
    pot_value = ot.emd2(a.numpy(), b.numpy(), cost.numpy())
    assert ours.cost == pytest.approx(pot_value, rel=1e-9)
    assert torch.allclose(ours.plan.sum(1), a, atol=1e-10) and torch.allclose(ours.plan.sum(0), b, atol=1e-10)
    assert bool((ours.plan >= 0).all())
    assert float(T.transport_cost(ours.plan, x, y)) == pytest.approx(pot_value, rel=1e-9)
    # generic points: the optimal plan is unique, so both solvers find the same one
    assert torch.allclose(ours.plan, torch.from_numpy(ot.emd(a.numpy(), b.numpy(), cost.numpy())), atol=1e-9)
    assert T.solve_ot_pot(a, b, cost).cost == pytest.approx(pot_value, rel=1e-12)


@pytest.mark.parametrize("solver", [T.solve_ot_lp, T.solve_ot_pot])
def test_strong_duality_and_feasible_potentials(solver):
    x, y, a, b = clouds(7)
    cost = T.cost_matrix(x, y)
    sol = solver(a, b, cost)
    assert float(a @ sol.u + b @ sol.v) == pytest.approx(sol.cost, rel=1e-8)
    assert float((sol.u[:, None] + sol.v[None, :] - cost).max()) <= 1e-9
    # complementary slackness: mass only moves along tight pairs
    used = sol.plan > 1e-12
    assert float((cost - sol.u[:, None] - sol.v[None, :])[used].abs().max()) <= 1e-8


def test_the_product_plan_is_feasible_and_costs_more():
    x, y, a, b = clouds(3)
    product = T.independent_plan(a, b)
    assert torch.allclose(product.sum(1), a) and torch.allclose(product.sum(0), b)
    assert float(T.transport_cost(product, x, y)) > T.w1_point_clouds(x, y, a, b) + 0.1


def test_uniform_clouds_of_equal_size_get_a_permutation():
    x, y, _, _ = clouds(5, 10, 10)
    sol = T.solve_ot_lp(None, None, T.cost_matrix(x, y))
    assert sorted((sol.plan > 1e-9).sum(1).tolist()) == [1] * 10
    assert torch.allclose(sol.plan[sol.plan > 1e-9], torch.full((10,), 0.1, dtype=torch.float64))


def test_in_one_dimension_the_lp_is_sorting():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=25), rng.exponential(size=25)
    for solver in ("lp", "pot"):
        assert T.w1_point_clouds(x, y, solver=solver) == pytest.approx(wasserstein_distance(x, y), rel=1e-9)


def test_plan_lines_keep_the_pairs_that_carry_mass():
    x, y, a, b = clouds(2, 6, 5)
    sol = T.solve_ot_pot(a, b, T.cost_matrix(x, y))
    segments, mass = T.plan_lines(sol.plan, x, y)
    assert segments.shape[1:] == (2, 2) and len(segments) == len(mass) <= 6 + 5 - 1
    assert mass.sum() == pytest.approx(1.0)


def test_bad_input_is_refused():
    x, y, a, b = clouds(1, 4, 3)
    with pytest.raises(ValueError, match="shape"):
        T.transport_cost(torch.ones(3, 4) / 12, x, y)
    with pytest.raises(ValueError, match="non-negative"):
        T.transport_cost(-torch.ones(4, 3), x, y)
    with pytest.raises(ValueError, match="same dimension"):
        T.cost_matrix(x, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="summing to 1"):
        T.solve_ot_lp(2 * a, b, T.cost_matrix(x, y))
    with pytest.raises(ValueError, match="solver"):
        T.w1_point_clouds(x, y, solver="sinkhorn")


@pytest.mark.parametrize("d", [1, 2, 5])
def test_a_point_mass_split_in_two_costs_what_pots_lp_says(d):
    """Monge against Kantorovich: no map splits the mass at x, the only coupling does; POT's LP agrees."""
    g = torch.Generator().manual_seed(d)
    x, y1, y2 = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(3))
    cost = ot.dist(x[None].numpy(), torch.stack([y1, y2]).numpy(), metric="euclidean")
    plan = ot.emd(np.ones(1), np.full(2, 0.5), cost)
    np.testing.assert_allclose(plan, [[0.5, 0.5]])
    assert float(T.split_point_mass_cost(x, y1, y2)) == pytest.approx(float(ot.emd2(np.ones(1), np.full(2, 0.5),
                                                                                     cost)), abs=1e-7)
    assert float(T.split_point_mass_cost(x, x, x)) == 0.0
    with pytest.raises(ValueError, match="same dimension"):
        T.split_point_mass_cost(x, torch.zeros(d + 1), y2)
