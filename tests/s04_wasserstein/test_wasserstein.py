"""wasserstein against SciPy, POT, the slides' value 3 and the parallel-lines closed forms."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import norm, wasserstein_distance

from course_utils.s04_wasserstein import wasserstein as W

GRID = torch.linspace(0.0, 12.0, 2401, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])


def test_the_slides_example_is_exactly_3():
    mu, nu = W.slides_example()
    assert float(W.w1_piecewise_uniform(mu, nu)) == pytest.approx(3.0, abs=1e-12)
    assert float(W.w1_piecewise_uniform(nu, mu)) == pytest.approx(3.0, abs=1e-12)
    # The slide's own plan moves the pieces rigidly: 4 x 1/4 + 2 x 1/4 + 3 x 1/2 = 3.
    assert 4 * 0.25 + 2 * 0.25 + 3 * 0.5 == 3.0


def test_the_slides_example_on_a_grid_through_the_cdfs():
    mu, nu = W.slides_example()
    p, q = mu.density_on_grid(GRID), nu.density_on_grid(GRID)
    assert float(p.sum() * DX) == pytest.approx(1.0, abs=1e-12)
    assert float(W.w1_on_grid(p, q, DX)) == pytest.approx(3.0, abs=2 * DX)
    # scipy's weighted 1-D W1 on the grid's cells (an independent implementation)
    scipy_value = wasserstein_distance(GRID.numpy(), GRID.numpy(), p.numpy(), q.numpy())
    assert float(W.w1_on_grid(p, q, DX)) == pytest.approx(scipy_value, abs=2 * DX)


def test_the_slides_example_from_samples_matches_scipy_and_approaches_3():
    mu, nu = W.slides_example()
    g = torch.Generator().manual_seed(0)
    x, y = mu.sample(20_000, g), nu.sample(20_000, g)
    ours = float(W.w1_samples(x, y))
    assert ours == pytest.approx(wasserstein_distance(x.numpy(), y.numpy()), rel=1e-12)
    assert ours == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("n, m", [(50, 50), (300, 170), (1, 7)])
def test_w1_samples_matches_scipy_for_any_sizes(n, m):
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(size=n), rng.exponential(size=m) - 0.5
    assert float(W.w1_samples(torch.from_numpy(x), torch.from_numpy(y))) == pytest.approx(
        wasserstein_distance(x, y), rel=1e-10, abs=1e-12)


def test_w1_samples_equals_pot_emd2_with_the_distance_cost():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(1.0, 2.0, size=40)
    cost = np.abs(x[:, None] - y[None, :])
    assert float(W.w1_samples(torch.from_numpy(x), torch.from_numpy(y))) == pytest.approx(
        ot.emd2(np.full(40, 1 / 40), np.full(40, 1 / 40), cost), rel=1e-10)


def test_gaussians_of_equal_variance_are_a_translation_apart():
    p = torch.from_numpy(norm.pdf(GRID.numpy(), 4.0, 0.7))
    q = torch.from_numpy(norm.pdf(GRID.numpy(), 6.5, 0.7))
    assert float(W.w1_on_grid(p, q, DX)) == pytest.approx(2.5, abs=5e-3)


def test_cdf_and_quantile_of_a_piecewise_uniform():
    mu, _ = W.slides_example()
    t = torch.tensor([0.0, 1.5, 2.5, 3.5, 6.0, 9.5, 11.0], dtype=torch.float64)
    assert mu.cdf(t).tolist() == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0])
    u = torch.tensor([0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0], dtype=torch.float64)
    assert mu.quantile(u).tolist() == pytest.approx([1.0, 1.5, 2.0, 3.5, 4.0, 9.5, 10.0])
    assert mu.mean == pytest.approx(6.0)
    g = torch.Generator().manual_seed(1)
    s = mu.sample(50_000, g)
    assert float(s.mean()) == pytest.approx(6.0, abs=0.05)
    assert float((s < 2).double().mean()) == pytest.approx(0.25, abs=0.01)


def test_overlapping_pieces_add_their_densities():
    mix = W.PiecewiseUniform(torch.tensor([[0.0, 2.0], [1.0, 3.0]]), torch.tensor([0.5, 0.5]))
    assert mix.density(torch.tensor([0.5, 1.5, 2.5])).tolist() == pytest.approx([0.25, 0.5, 0.25])
    assert float(mix.cdf(torch.tensor(1.5))) == pytest.approx(0.5)


def test_the_monotone_plan_of_the_slides_example():
    plan = W.monotone_coupling(*W.slides_example())
    assert plan.source.flatten().tolist() == pytest.approx([1, 2, 3, 4, 9, 10], abs=1e-9)
    assert plan.target.flatten().tolist() == pytest.approx([5, 5.5, 5.5, 6, 6, 7], abs=1e-9)
    assert plan.mass.tolist() == pytest.approx([0.25, 0.25, 0.5])
    assert plan.cost.tolist() == pytest.approx([0.25 * 3.75, 0.25 * 2.25, 0.5 * 3.0], abs=1e-9)
    assert float(plan.cost.sum()) == pytest.approx(3.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_the_monotone_plan_costs_w1_for_random_pieces(seed):
    g = torch.Generator().manual_seed(seed)

    def random_pieces(k):
        starts = 10 * torch.rand(k, generator=g, dtype=torch.float64)
        widths = 0.2 + 2 * torch.rand(k, generator=g, dtype=torch.float64)
        masses = torch.rand(k, generator=g, dtype=torch.float64) + 0.1
        return W.PiecewiseUniform(torch.stack([starts, starts + widths], 1), masses / masses.sum())

    mu, nu = random_pieces(3), random_pieces(2)
    plan = W.monotone_coupling(mu, nu)
    exact = float(W.w1_piecewise_uniform(mu, nu))
    assert float(plan.cost.sum()) == pytest.approx(exact, abs=1e-8)
    assert float(plan.mass.sum()) == pytest.approx(1.0)
    x, y = mu.sample(40_000, g), nu.sample(40_000, g)
    assert exact == pytest.approx(wasserstein_distance(x.numpy(), y.numpy()), abs=0.06)


def test_the_optimal_1d_critic_attains_w1_and_is_1_lipschitz():
    """Kantorovich-Rubinstein with expectations: E_mu f* - E_mu' f* = W1 = 3 (the errata's corrected form)."""
    mu, nu = W.slides_example()
    p, q = mu.density_on_grid(GRID), nu.density_on_grid(GRID)
    f = W.optimal_critic_1d(p, q, DX)
    assert float(((f[1:] - f[:-1]).abs() / DX).max()) <= 1 + 1e-9
    gap = float((f * p).sum() * DX - (f * q).sum() * DX)
    # f*' = sign(G - F) is 0 at the few grid points where the CDFs meet: a gap of order dx^2 there
    assert gap == pytest.approx(float(W.w1_on_grid(p, q, DX)), abs=DX**2)
    assert gap == pytest.approx(3.0, abs=2 * DX)
    # Shifting a critic by a constant changes nothing with expectations; with the slides' absolute values it
    # does: E|f - 7| - E'|f - 7| is not the same number (the slip the notebook's note corrects).
    shifted = f - 7.0
    assert float((shifted * p).sum() * DX - (shifted * q).sum() * DX) == pytest.approx(gap, abs=1e-9)
    with_abs = float((shifted.abs() * p).sum() * DX - (shifted.abs() * q).sum() * DX)
    assert abs(with_abs - gap) > 1.0


def test_grid_w1_refuses_unequal_masses_and_bad_grids():
    p = torch.ones(10)
    with pytest.raises(ValueError, match="equal mass"):
        W.w1_on_grid(p, 2 * p, 0.1)
    with pytest.raises(ValueError, match="dx"):
        W.w1_on_grid(p, p, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        W.w1_on_grid(-p, -p, 0.1)
    with pytest.raises(ValueError, match="same shape"):
        W.w1_on_grid(p, torch.ones(11), 0.1)


def test_bad_pieces_and_samples_are_refused():
    with pytest.raises(ValueError, match="a < b"):
        W.PiecewiseUniform(torch.tensor([[2.0, 1.0]]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        W.PiecewiseUniform(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"\(n,\)"):
        W.w1_samples(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="u must lie"):
        W.slides_example()[0].quantile(torch.tensor([1.5]))


# --- the parallel lines ---------------------------------------------------------------------------


def test_parallel_lines_closed_forms():
    d = W.parallel_lines(torch.tensor([-1.5, 0.0, 0.3], dtype=torch.float64))
    assert d.w.tolist() == [1.5, 0.0, 0.3]
    assert d.js.tolist() == pytest.approx([math.log(2), 0.0, math.log(2)])
    assert math.isinf(float(d.kl[0])) and float(d.kl[1]) == 0.0
    assert d.tv.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("theta", [0.25, -1.0, 2.0])
def test_parallel_lines_against_pot_and_histograms(theta):
    g = torch.Generator().manual_seed(0)
    p0, pt = W.parallel_lines_samples(theta, 300, g)
    a = np.full(300, 1 / 300)
    assert ot.emd2(a, a, ot.dist(p0.numpy(), pt.numpy(), metric="euclidean")) == pytest.approx(abs(theta), rel=1e-9)
    # JS and KL of the two distributions, from 2-D histograms (bins 0.05 wide): disjoint supports
    edges = (np.linspace(-2.5, 2.5, 101), np.linspace(0, 1, 11))
    h0 = np.histogram2d(p0[:, 0].numpy(), p0[:, 1].numpy(), bins=edges)[0].ravel()
    ht = np.histogram2d(pt[:, 0].numpy(), pt[:, 1].numpy(), bins=edges)[0].ravel()
    closed = W.parallel_lines(torch.tensor(theta))
    assert jensenshannon(h0, ht, base=math.e) ** 2 == pytest.approx(float(closed.js), abs=1e-9)
    assert math.isinf(rel_entr(ht / ht.sum(), h0 / h0.sum()).sum()) and math.isinf(float(closed.kl))


@pytest.mark.parametrize("theta, sigma", [(0.3, 0.5), (1.0, 0.5), (2.0, 0.2), (0.0, 0.3)])
def test_blurred_parallel_lines_against_scipy(theta, sigma):
    x = np.linspace(-6, 8, 28_001)
    p, q = norm.pdf(x, 0, sigma), norm.pdf(x, theta, sigma)
    d = W.blurred_parallel_lines(torch.tensor([theta], dtype=torch.float64), sigma)
    assert float(d.js[0]) == pytest.approx(jensenshannon(p, q, base=math.e) ** 2, abs=1e-6)
    assert float(d.kl[0]) == pytest.approx(theta**2 / (2 * sigma**2), rel=1e-12)
    assert float(d.tv[0]) == pytest.approx(0.5 * np.abs(p - q).sum() * (x[1] - x[0]), abs=1e-6)
    assert float(d.w[0]) == abs(theta)
    torch_kl = torch.distributions.kl_divergence(torch.distributions.Normal(theta, sigma),
                                                 torch.distributions.Normal(0.0, sigma))
    assert float(d.kl[0]) == pytest.approx(float(torch_kl), rel=1e-6, abs=1e-12)


def test_blurred_lines_saturate_and_sigma_zero_is_the_closed_form():
    far = W.blurred_parallel_lines(torch.tensor([40.0]), 0.1)
    assert float(far.js[0]) == pytest.approx(math.log(2), abs=1e-12)
    sharp = W.blurred_parallel_lines(torch.tensor([0.5, 0.0]), 0.0)
    assert sharp.js.tolist() == pytest.approx([math.log(2), 0.0])
    with pytest.raises(ValueError, match="sigma"):
        W.blurred_parallel_lines(torch.tensor([1.0]), -0.1)


def test_the_optimal_1d_critic_is_flat_where_the_cdfs_agree_up_to_round_off():
    """Past both supports F - G is round-off (about 1e-13): its sign must not draw slopes of +-1 there."""
    mu, nu = W.slides_example()
    grid = torch.linspace(0.0, 12.0, 1201, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    p, q = mu.density_on_grid(grid), nu.density_on_grid(grid)
    gap = W.cdf_on_grid(q, dx) - W.cdf_on_grid(p, dx)
    assert float(gap[grid > 10.05].abs().max()) < 1e-9  # round-off only, of either sign
    f = W.optimal_critic_1d(p, q, dx)
    past, before = f[grid > 10.05], f[grid < 0.95]
    assert float(past.max() - past.min()) == 0.0 and float(before.max() - before.min()) == 0.0
    slope = (f[1:] - f[:-1]) / dx
    mid = grid[:-1] + dx / 2
    assert bool((slope[(mid > 1.05) & (mid < 5.95)] < 0).all())  # mass of mu moves right: f* descends
    assert bool((slope[(mid > 6.05) & (mid < 9.95)] > 0).all())  # mass moves left: f* climbs
