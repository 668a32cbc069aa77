"""sde against closed forms, SciPy, autograd, the ODE solver and Theorem 2 on Gaussian data."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from course_utils.core import ode
from course_utils.data.mixtures import GaussianMixture
from course_utils.data.toy2d import eight_gaussians
from course_utils.s05_flow_matching import probability_paths
from course_utils.s06_sde_langevin import sde

GEN = torch.Generator().manual_seed(0)


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


# --- Brownian motion -----------------------------------------------------------------------------


def test_brownian_paths_start_at_zero_and_add_sqrt_h_increments():
    eps, h = torch.randn(7, 3, 2, generator=GEN), 0.04
    w = sde.brownian_paths(eps, h)
    assert w.shape == (8, 3, 2)
    assert torch.equal(w[0], torch.zeros(3, 2))
    assert torch.allclose(w[1:] - w[:-1], 0.2 * eps)


def test_brownian_motion_properties_on_many_paths():
    n, steps = 20_000, 50
    b = sde.brownian_motion(n, steps, t1=2.0, generator=GEN)
    w, t = b.W[..., 0], b.times
    assert t[-1] == 2.0 and w.shape == (steps + 1, n)
    inc = w[1:] - w[:-1]
    h = 2.0 / steps
    assert abs(float(inc.mean())) < 4 * math.sqrt(h / inc.numel())
    assert float(inc.var()) == pytest.approx(h, rel=0.02)
    # Var W_t = t, Cov(W_s, W_t) = min(s, t)
    assert torch.allclose(w.var(1), t, rtol=0.05, atol=1e-12)
    s_i, t_i = 10, 40
    assert float((w[s_i] * w[t_i]).mean()) == pytest.approx(float(t[s_i]), rel=0.06)
    # independent increments: disjoint ones are uncorrelated
    a, c = w[s_i] - w[0], w[t_i] - w[s_i]
    assert abs(float(torch.corrcoef(torch.stack([a, c]))[0, 1])) < 4 / math.sqrt(n)
    # Gaussian increments: W_t / sqrt(t) is N(0, 1) (Kolmogorov-Smirnov)
    assert stats.kstest((w[-1] / math.sqrt(2.0)).numpy(), "norm").pvalue > 1e-3


def test_brownian_bad_input():
    with pytest.raises(ValueError, match=r"\(n_steps, n, d\)"):
        sde.brownian_paths(torch.zeros(5, 2), 0.1)
    with pytest.raises(ValueError, match="h must be > 0"):
        sde.brownian_paths(torch.zeros(5, 2, 1), 0.0)


# --- Euler-Maruyama -----------------------------------------------------------------------------------


def test_euler_maruyama_without_noise_is_euler():
    x0 = torch.randn(20, 2, generator=GEN)

    def v(x, t):
        return -x * t + torch.sin(x)

    got = sde.euler_maruyama(v, 0.0, x0, 0.0, 1.0, 37)
    assert torch.allclose(got, ode.integrate(v, x0, 0.0, 1.0, 37, "euler"))


def test_n_steps_reach_the_end_time():
    """ERRATA: n steps i = 0, ..., n - 1 (the slide's loop i = 1, ..., n - 1 stops at 1 - h)."""
    seen = []

    def v(x, t):
        seen.append(float(t[0]))
        return torch.ones_like(x)

    x1 = sde.euler_maruyama(v, 0.0, torch.zeros(3, 1), 0.0, 1.0, 4)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    assert torch.allclose(x1, torch.ones(3, 1))  # dX = dt from 0 to 1


def test_euler_maruyama_step_formula_and_backwards_time():
    x, eps = torch.randn(5, 2, generator=GEN), torch.randn(5, 2, generator=GEN)

    def v(x, t):
        return 2 * x + t

    got = sde.euler_maruyama_step(v, x, 0.3, 0.01, 1.5, eps)
    assert torch.allclose(got, x + 0.01 * (2 * x + 0.3) + 0.1 * 1.5 * eps)
    back = sde.euler_maruyama_step(v, x, 0.3, -0.01, 1.5, eps)
    assert torch.allclose(back, x - 0.01 * (2 * x + 0.3) + 0.1 * 1.5 * eps)
    path = sde.euler_maruyama(v, 0.5, x, 1.0, 0.2, 8, torch.Generator().manual_seed(1), return_path=True)
    assert path.shape == (9, 5, 2) and torch.equal(path[0], x)


def test_euler_maruyama_bad_input():
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        sde.euler_maruyama(lambda x, t: x, 1.0, torch.zeros(3), 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="sigma_t must be >= 0"):
        sde.euler_maruyama(lambda x, t: x, lambda t: -1.0, torch.zeros(3, 1), 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="shape"):
        sde.euler_maruyama(lambda x, t: x[:, :1], 1.0, torch.zeros(3, 2), 0.0, 1.0, 4)


# --- Ornstein-Uhlenbeck ---------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.05, 0.3, 1.0])
def test_ou_simulation_matches_the_closed_form_marginals(t):
    theta, sigma, x0 = 2.0, 0.8, 1.5
    n = 40_000
    steps = int(round(t / 0.002))
    x = sde.euler_maruyama(sde.ou_drift(theta), sigma, torch.full((n, 1), x0), 0.0, t, steps,
                           torch.Generator().manual_seed(2))[:, 0]
    mean, var = sde.ou_marginal(t, theta, sigma, x0)
    assert float(x.mean()) == pytest.approx(float(mean), abs=4 * math.sqrt(float(var) / n) + 0.005)
    assert float(x.var()) == pytest.approx(float(var), rel=0.03)
    assert stats.kstest(x.numpy(), "norm", args=(float(mean), math.sqrt(float(var)))).pvalue > 1e-3


def test_ou_marginal_closed_form_properties():
    theta, sigma = 1.3, 0.7
    # stationary law N(mu, sigma^2 / (2 theta)) is kept, and reached from anywhere
    m, v = sde.ou_marginal(0.8, theta, sigma, x0_mean=0.4, x0_var=sigma**2 / (2 * theta), mu=0.4)
    assert float(m) == pytest.approx(0.4) and float(v) == pytest.approx(sigma**2 / (2 * theta))
    m, v = sde.ou_marginal(50.0, theta, sigma, x0_mean=3.0)
    assert float(m) == pytest.approx(0.0, abs=1e-12) and float(v) == pytest.approx(sigma**2 / (2 * theta))
    # Chapman-Kolmogorov: the law at t + s is the law at t pushed through the transition over s
    m_t, v_t = sde.ou_marginal(0.3, theta, sigma, 1.0, 0.2)
    m_ts, v_ts = sde.ou_marginal(0.5, theta, sigma, m_t, v_t)
    m_direct, v_direct = sde.ou_marginal(0.8, theta, sigma, 1.0, 0.2)
    assert torch.allclose(m_ts, m_direct) and torch.allclose(v_ts, v_direct)
    # theta = 0 is Brownian motion with variance sigma^2 t
    _, v0 = sde.ou_marginal(torch.tensor([0.5, 2.0]), 0.0, 3.0)
    assert torch.allclose(v0, torch.tensor([4.5, 18.0]))
    with pytest.raises(ValueError, match="t >= 0"):
        sde.ou_marginal(-0.1, theta, sigma)


# --- the score of a Gaussian mixture ----------------------------------------------------------------------


def test_mixture_score_against_autograd_of_the_log_density():
    weights = torch.tensor([0.2, 0.5, 0.3])
    means = torch.randn(3, 2, generator=GEN) * 2
    variances = torch.tensor([0.3, 1.2, 0.6])
    x = (torch.randn(50, 2, generator=GEN) * 3).requires_grad_(True)
    scales = variances.sqrt()[:, None].expand(3, 2)
    mix = MixtureSameFamily(Categorical(weights), Independent(Normal(means, scales), 1))
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    got = sde.mixture_score(x.detach(), weights, means, variances)
    assert torch.allclose(got, grad, atol=1e-10)
    assert torch.allclose(got, GaussianMixture(weights, means, variances).score(x.detach()), atol=1e-12)
    with pytest.raises(ValueError, match="expected weights"):
        sde.MixtureScore(weights, means, variances[:2])


# --- Theorem 2 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_mixture_path_fields_are_the_shared_modules_exact_fields(name):
    mp = sde.MixturePath(eight_gaussians(), name)
    x = torch.randn(30, 2, generator=GEN) * 2
    for t in (0.1, 0.5, 0.97, 1.0):
        u, s = mp.fields(x, t)
        assert torch.allclose(s, probability_paths.marginal_mixture(eight_gaussians(), t, name).score(x), atol=1e-10)
        assert torch.allclose(u, probability_paths.mixture_velocity(x, t, eight_gaussians(), name), atol=1e-9)
    with pytest.raises(ValueError, match="t > 0"):
        mp.velocity(x, 0.0)


def test_sde_drift_formula():
    v, s = torch.randn(4, 2, generator=GEN), torch.randn(4, 2, generator=GEN)
    sigma = torch.tensor([[0.5], [1.0], [2.0], [0.0]])
    assert torch.allclose(sde.sde_drift(v, s, sigma), v + sigma**2 / 2 * s)


@pytest.mark.parametrize("sigma", [0.0, 0.7, 1.5])
def test_every_sigma_follows_the_gaussian_paths_marginals(sigma):
    """Theorem 2 with Gaussian data N(m, s^2 I): p_t = N(alpha_t m, (alpha_t^2 s^2 + beta_t^2) I) at every t."""
    m, s2 = torch.tensor([1.5, -0.5]), 0.3
    data = GaussianMixture(torch.ones(1), m[None], torch.tensor([s2]))
    mp = sde.MixturePath(data, "linear")
    n, t_min = 10_000, sde.T_MIN
    g = torch.Generator().manual_seed(3)
    path = sde.euler_maruyama(mp.drift(sigma), sigma, mp.marginal(t_min).sample(n, g), t_min, 1.0, 150, g,
                              return_path=True)
    times = ode.time_grid(150, t_min, 1.0)
    for i in (50, 100, 150):
        t = float(times[i])
        var = t**2 * s2 + (1 - t) ** 2
        assert torch.allclose(path[i].mean(0), t * m, atol=0.03)
        assert torch.allclose(path[i].var(0), torch.full((2,), var), rtol=0.06)
    # ... and the noising SDE, run backwards from the data, reaches p_{t_min}
    back = sde.euler_maruyama(mp.drift(sigma, -1), sigma, data.sample(n, g), 1.0, t_min, 150, g)
    var_min = t_min**2 * s2 + (1 - t_min) ** 2
    assert torch.allclose(back.mean(0), t_min * m, atol=0.03)
    assert torch.allclose(back.var(0), torch.full((2,), var_min), rtol=0.06)


def test_three_dynamics_share_a_grid_and_their_starts():
    d = sde.three_dynamics(eight_gaussians(), 1.0, n=50, n_steps=20, seed=1)
    assert d.times.shape == (21,) and float(d.times[0]) == pytest.approx(sde.T_MIN) and float(d.times[-1]) == 1.0
    for p in (d.noising, d.generative, d.ode):
        assert p.shape == (21, 50, 2) and bool(torch.isfinite(p).all())
    assert torch.equal(d.generative[0], d.ode[0])
    # the noising SDE starts from data points, near the ring of radius 2
    assert float(d.noising[-1].norm(dim=1).mean()) == pytest.approx(2.0, abs=0.15)
    with pytest.raises(ValueError, match="direction"):
        sde.MixturePath(eight_gaussians()).drift(1.0, 0)


# --- breaking Theorem 2, and the measure that sees it ----------------------------------------------------


def test_broken_drifts_are_the_drift_with_the_score_term_scaled():
    mp = sde.MixturePath(eight_gaussians())
    x, t = torch.randn(20, 2, generator=GEN), torch.full((20, 1), 0.6)
    u, s = mp.fields(x, t)
    assert torch.allclose(mp.broken_drift(0.7, 0.0)(x, t), u)
    assert torch.allclose(mp.broken_drift(0.7, -1.0)(x, t), u - 0.245 * s)
    assert torch.allclose(mp.broken_drift(0.7, 1.0)(x, t), mp.drift(0.7)(x, t))


def test_mean_log_density_ranks_the_broken_sdes_below_the_correct_one():
    """The notebook's "break it" rows: under the true p_1, the correct SDE scores like the data, the SDE without
    its score term clearly worse, the one with the sign flipped worst, by margins far above the sampling noise."""
    data = eight_gaussians()
    mp = sde.MixturePath(data)
    start = mp.marginal(sde.T_MIN).sample(600, torch.Generator().manual_seed(1))
    score = {}
    for name, drift in (("right", mp.drift(0.5)), ("dropped", mp.broken_drift(0.5, 0.0)),
                        ("flipped", mp.broken_drift(0.5, -1.0))):
        x1 = sde.euler_maruyama(drift, 0.5, start, sde.T_MIN, 1.0, 100, torch.Generator().manual_seed(2))
        score[name] = float(data.log_prob(x1).mean())
    reference = float(data.log_prob(data.sample(600, torch.Generator().manual_seed(3))).mean())
    assert abs(score["right"] - reference) < 0.2
    assert score["dropped"] < score["right"] - 1.0
    assert score["flipped"] < score["dropped"] - 3.0


# --- do the ODE's curves cross? -------------------------------------------------------------------------


def test_crossing_pairs_on_hand_made_curves():
    t = torch.linspace(0, 1, 11)[:, None]
    rising = torch.cat([t, t], 1)                       # y = x, left to right
    falling = torch.cat([t, 1.05 - t], 1)               # crosses it at x = 0.525 (between grid points)
    late_falling = torch.cat([t.flip(0), t.flip(0)], 1)  # y = x traced backwards: overlapping, not crossing
    shifted = torch.cat([t + 2, t], 1)                  # far away
    late = torch.cat([0.33 + 0 * t, 2 * t - 0.5], 1)   # the vertical line x = 0.33, crossing both
    paths = torch.stack([rising, falling, shifted, late], dim=1)   # (11, 4, 2)
    # rising x falling, rising x late, falling x late: 3 of the 6 pairs cross; shifted crosses nothing
    assert sde.crossing_pairs(paths) == 3
    assert sde.crossing_pairs(torch.stack([rising, shifted], 1)) == 0
    assert sde.crossing_pairs(torch.stack([rising, late_falling], 1)) == 0   # collinear overlap is not a crossing
    with pytest.raises(ValueError, match="shape"):
        sde.crossing_pairs(torch.zeros(5, 3, 3))


def test_closest_approach_is_the_smallest_same_time_distance():
    t = torch.linspace(0, 1, 5)[:, None]
    a, b = torch.cat([t, 0 * t], 1), torch.cat([1 - t, 0 * t + 0.3], 1)   # they pass at time 0.5, 0.3 apart
    assert math.isclose(sde.closest_approach(torch.stack([a, b], 1)), 0.3, rel_tol=1e-9)


def test_exact_ode_trajectories_never_meet_but_their_curves_cross():
    mp = sde.MixturePath(eight_gaussians())
    start = mp.marginal(sde.T_MIN).sample(40, torch.Generator().manual_seed(6))
    paths = sde.euler_maruyama(mp.drift(0.0), 0.0, start, sde.T_MIN, 1.0, 100, return_path=True)
    assert sde.closest_approach(paths) > 1e-3
    assert sde.crossing_pairs(paths[::4]) > 0
