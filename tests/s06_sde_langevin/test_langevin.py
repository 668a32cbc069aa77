"""langevin against closed forms (the AR(1) chain on a Gaussian), SciPy and autograd.

Pins the slides' slip (ERRATA, "Langevin dynamics"): the step is X + eta grad log p + sqrt(2 eta) xi, and a
noise scale alpha != eta samples the tempered p^(eta / alpha), not p.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from course_utils.data.mixtures import GaussianMixture
from course_utils.s06_sde_langevin import langevin, sde

GEN = torch.Generator().manual_seed(0)


def gaussian_score(m, var):
    return lambda x: -(x - m) / var


def test_the_step_is_the_matched_formula():
    x, xi = torch.randn(6, 2, generator=GEN), torch.randn(6, 2, generator=GEN)
    score = gaussian_score(0.5, 2.0)
    got = langevin.langevin_step(score, x, 0.1, xi)
    assert torch.allclose(got, x + 0.1 * score(x) + math.sqrt(0.2) * xi)
    hot = langevin.langevin_step(score, x, 0.1, xi, alpha=0.4)
    assert torch.allclose(hot, x + 0.1 * score(x) + math.sqrt(0.8) * xi)
    assert langevin.temperature(0.1, 0.4) == pytest.approx(4.0) and langevin.temperature(0.1) == 1.0


def test_stationary_variance_formula_is_the_ar1_closed_form():
    for var, eta, alpha in ((0.5, 0.1, None), (0.5, 0.1, 0.3), (2.0, 1.5, 1.5), (1.0, 0.01, 0.005)):
        a = eta if alpha is None else alpha
        rho = 1 - eta / var
        assert langevin.gaussian_stationary_variance(var, eta, alpha) == pytest.approx(2 * a / (1 - rho**2))
    with pytest.raises(ValueError, match="diverges"):
        langevin.gaussian_stationary_variance(0.5, 1.0)
    assert langevin.max_stable_step(0.5) == 1.0


@pytest.mark.parametrize("eta, alpha", [(0.1, None), (0.3, None), (0.1, 0.2), (0.1, 0.05)])
def test_langevin_on_a_gaussian_reaches_the_known_stationary_law(eta, alpha):
    m, var, n = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5, 20_000
    x0 = torch.zeros(n, 2, dtype=torch.float64)
    x = langevin.langevin_chain(gaussian_score(m, var), x0, eta, 150, alpha, torch.Generator().manual_seed(1))
    v = langevin.gaussian_stationary_variance(var, eta, alpha)
    assert torch.allclose(x.mean(0), m, atol=4 * math.sqrt(v / n))
    assert torch.allclose(x.var(0), torch.full((2,), v, dtype=torch.float64), rtol=0.03)
    assert stats.kstest(((x[:, 0] - 1.0) / math.sqrt(v)).numpy(), "norm").pvalue > 1e-3
    if alpha is None and eta == 0.1:  # the matched chain's bias vanishes with the step: 0.5 / (1 - 0.1)
        assert v == pytest.approx(var / (1 - eta / (2 * var)))


def test_a_step_beyond_twice_the_variance_diverges():
    x = langevin.langevin_chain(gaussian_score(0.0, 0.5), torch.ones(100, 2, dtype=torch.float64), 1.2, 200,
                                generator=torch.Generator().manual_seed(2))
    assert not bool(torch.isfinite(x).all()) or float(x.abs().max()) > 1e10


def test_two_gaussians_score_against_autograd_of_its_log_density():
    mix = langevin.two_gaussians()
    scales = mix.variances.sqrt()[:, None].expand(2, 2)
    ref = MixtureSameFamily(Categorical(mix.weights), Independent(Normal(mix.means, scales), 1))
    x = (2 * torch.randn(40, 2, generator=GEN, dtype=torch.float64)).requires_grad_(True)
    (grad,) = torch.autograd.grad(ref.log_prob(x).sum(), x)
    assert torch.allclose(mix.score(x.detach()), grad, atol=1e-10)
    assert torch.allclose(sde.mixture_score(x.detach(), mix.weights, mix.means, mix.variances), grad, atol=1e-10)


def test_tempered_marginal_against_closed_forms():
    mix = langevin.two_gaussians()
    axis = torch.linspace(-6, 6, 241, dtype=torch.float64)
    other = torch.linspace(-8, 8, 321, dtype=torch.float64)
    # power 1: the 1-D mixture sum_k pi_k N(m_k1, s_k^2) (SciPy)
    got = langevin.tempered_marginal(mix, 1.0, axis, other)
    ref = sum(float(w) * stats.norm.pdf(axis.numpy(), float(m[0]), math.sqrt(float(v)))
              for w, m, v in zip(mix.weights, mix.means, mix.variances, strict=True))
    assert np.allclose(got.numpy(), ref, atol=1e-6)
    assert float(got.sum() * (axis[1] - axis[0])) == pytest.approx(1.0, abs=1e-6)
    # a single Gaussian to the power q is N(m, s^2 / q)
    one = GaussianMixture(torch.ones(1), torch.tensor([[0.5, 1.0]]), torch.tensor([0.8]))
    got = langevin.tempered_marginal(one, 0.5, axis, other, coordinate=1)
    assert np.allclose(got.numpy(), stats.norm.pdf(axis.numpy(), 1.0, math.sqrt(1.6)), atol=5e-5)


def _histogram_l1(x: torch.Tensor, density: torch.Tensor, bins: torch.Tensor) -> float:
    counts = torch.histogram(x, bins=bins).hist
    width = float(bins[1] - bins[0])
    return float((counts / (len(x) * width) - density).abs().sum() * width)


def test_a_mismatched_noise_samples_the_tempered_density():
    """The slide's sqrt(2 alpha) noise with alpha = 2 eta: the chain follows p^(1/2), not p (the colder case,
    alpha < eta, mixes between the modes too slowly for a test; the Gaussian test above covers it)."""
    mix, eta, n, temperature = langevin.two_gaussians(), 0.04, 6000, 2.0
    score = sde.MixtureScore(mix.weights, mix.means, mix.variances)
    x0 = 2 * torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    bins = torch.linspace(-4.5, 4.5, 31, dtype=torch.float64)
    centers = 0.5 * (bins[1:] + bins[:-1])
    other = torch.linspace(-8, 8, 321, dtype=torch.float64)
    p = langevin.tempered_marginal(mix, 1.0, centers, other)
    tempered = langevin.tempered_marginal(mix, 1 / temperature, centers, other)
    hot = langevin.langevin_chain(score, x0, eta, 400, temperature * eta, torch.Generator().manual_seed(4))
    matched = langevin.langevin_chain(score, x0, eta, 400, None, torch.Generator().manual_seed(4))
    assert _histogram_l1(hot[:, 0], tempered, bins) < 0.08 < _histogram_l1(hot[:, 0], p, bins)
    assert _histogram_l1(matched[:, 0], p, bins) < 0.08 < _histogram_l1(matched[:, 0], tempered, bins)


def test_bad_input_says_what_was_expected():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="eta must be > 0"):
        langevin.langevin_step(gaussian_score(0, 1), x, 0.0, x)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        langevin.langevin_chain(gaussian_score(0, 1), x, 0.1, 5, alpha=-1.0)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        langevin.langevin_chain(gaussian_score(0, 1), torch.zeros(3), 0.1, 5)
    with pytest.raises(ValueError, match="same shape"):
        langevin.langevin_step(gaussian_score(0, 1), x, 0.1, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="power"):
        langevin.tempered_marginal(langevin.two_gaussians(), 0.0, torch.zeros(3), torch.zeros(3))


def test_langevin_sampler_on_a_gaussian_is_the_ar1_closed_form():
    """K steps on N(m, s^2): X_K = m + a^K (x0 - m) + sqrt(2 eta) sum_k a^(K-1-k) xi_k, a = 1 - eta / s^2."""
    m, var, eta, k = 0.7, 0.4, 0.15, 6
    x0 = torch.randn(30, 2, generator=GEN)
    xi = torch.randn(k, 30, 2, generator=GEN)
    a = 1 - eta / var
    closed = m + a**k * (x0 - m) + math.sqrt(2 * eta) * sum(a ** (k - 1 - i) * xi[i] for i in range(k))
    assert torch.allclose(langevin.langevin_sampler(gaussian_score(m, var), x0, eta, xi), closed)
    assert torch.equal(langevin.langevin_sampler(gaussian_score(m, var), x0, eta, xi[:0]), x0)
    with pytest.raises(ValueError, match="xi must have shape"):
        langevin.langevin_sampler(gaussian_score(m, var), x0, eta, xi[0])


def test_the_slides_fixed_noise_sampler_samples_a_tempered_gaussian():
    """With the slide's constant alpha, the stationary variance follows alpha / eta (the tempering), not s^2."""
    var, eta, alpha = 0.5, 0.05, 0.01
    x = torch.zeros(20_000, 1)
    g = torch.Generator().manual_seed(4)
    for _ in range(400):
        x = x + eta * gaussian_score(0.0, var)(x) + math.sqrt(2 * alpha) * torch.randn(x.shape, generator=g)
    assert math.isclose(float(x.var()), langevin.gaussian_stationary_variance(var, eta, alpha), rel_tol=0.05)
    assert float(x.var()) < 0.5 * var


def test_mode_share_reads_each_modes_mass():
    mix = langevin.two_gaussians()
    x = mix.sample(40_000, torch.Generator().manual_seed(1))
    # the exact share: the mass of the region where the narrow component is the more responsible one, by a
    # Riemann sum on a grid (independent of sampling)
    grid = torch.linspace(-6, 6, 601)
    gx, gy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([gx, gy], -1).reshape(-1, 2)
    p = mix.log_prob(pts).exp()
    narrow = mix.responsibilities(pts).argmax(1) == 0
    exact = float((p * narrow).sum() / p.sum())
    assert abs(langevin.mode_share(mix, x, 0) - exact) < 0.01
    assert abs(langevin.mode_share(mix, x, 0) + langevin.mode_share(mix, x, 1) - 1) < 1e-12
    with pytest.raises(ValueError, match="k must index"):
        langevin.mode_share(mix, x, 2)


def test_a_large_matched_step_biases_the_mixture_before_it_diverges():
    """The notebook's slip fix: at eta = 0.5 (< 2 s^2 of both modes) the narrow mode's share has fallen."""
    mix = langevin.two_gaussians()
    score = sde.MixtureScore(mix.weights, mix.means, mix.variances)
    start = 2 * torch.randn(3000, 2, generator=torch.Generator().manual_seed(4))
    small = langevin.langevin_chain(score, start, 0.02, 800, generator=torch.Generator().manual_seed(5))
    large = langevin.langevin_chain(score, start, 0.5, 300, generator=torch.Generator().manual_seed(5))
    assert torch.isfinite(large).all()
    assert abs(langevin.mode_share(mix, small, 0) - 0.3) < 0.03
    assert langevin.mode_share(mix, large, 0) < 0.26
