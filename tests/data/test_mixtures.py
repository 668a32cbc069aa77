"""Tests of course_utils.data.mixtures against scipy densities, quadrature, autograd and sampling."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from course_utils.data.mixtures import GaussianMixture, moment_match

F64 = torch.float64

W1 = np.array([0.3, 0.5, 0.2])
M1 = np.array([-2.0, 0.5, 3.0])
V1 = np.array([0.4, 1.0, 0.25])

W2 = np.array([0.6, 0.4])
M2 = np.array([[-1.0, 0.5], [2.0, -1.5]])
V2 = np.array([0.5, 1.5])


@pytest.fixture
def gm1():
    return GaussianMixture(torch.tensor(W1), torch.tensor(M1), torch.tensor(V1))


@pytest.fixture
def gm2():
    return GaussianMixture(torch.tensor(W2), torch.tensor(M2), torch.tensor(V2))


def _pdf1(x):
    return sum(w * stats.norm.pdf(x, m, math.sqrt(v)) for w, m, v in zip(W1, M1, V1, strict=True))


def _pdf1_scalar(x):
    """The same density written out by hand, fast enough for scalar quadrature."""
    return float(np.sum(W1 * np.exp(-((x - M1) ** 2) / (2 * V1)) / np.sqrt(2 * np.pi * V1)))


def _pdf2(x):
    return sum(
        w * stats.multivariate_normal.pdf(x, m, v * np.eye(2))
        for w, m, v in zip(W2, M2, V2, strict=True)
    )


def test_log_prob_1d_matches_scipy(gm1):
    x = np.linspace(-6, 7, 53)
    got = gm1.log_prob(torch.tensor(x))
    assert got.shape == (53,)
    np.testing.assert_allclose(got.numpy(), np.log(_pdf1(x)), rtol=1e-12)
    # an explicit (N, 1) input gives the same values
    np.testing.assert_allclose(gm1.log_prob(torch.tensor(x)[:, None]).numpy(), got.numpy())
    assert gm1.log_prob(0.3).shape == ()


def test_log_prob_2d_matches_scipy(gm2):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=2.0, size=(4, 5, 2))
    got = gm2.log_prob(torch.tensor(x))
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got.numpy(), np.log(_pdf2(x)), rtol=1e-12)


def test_log_prob_far_in_the_tail_is_finite(gm1):
    # scipy's pdf underflows to 0 here; logsumexp of component log-densities must not
    x = torch.tensor([60.0], dtype=F64)
    got = gm1.log_prob(x).item()
    want = np.logaddexp.reduce(np.log(W1) + stats.norm.logpdf(60.0, M1, np.sqrt(V1)))
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-12)


def test_density_integrates_to_one_1d(gm1):
    density = lambda x: math.exp(gm1.log_prob(x).item())
    total, _ = integrate.quad(density, -np.inf, np.inf, limit=200)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_responsibilities_match_bayes_rule(gm2):
    x = np.array([[0.0, 0.0], [2.0, -1.0], [-3.0, 2.0]])
    mvn = stats.multivariate_normal
    comps = zip(W2, M2, V2, strict=True)
    joint = np.stack([w * mvn.pdf(x, m, v * np.eye(2)) for w, m, v in comps], axis=-1)
    got = gm2.responsibilities(torch.tensor(x))
    np.testing.assert_allclose(got.numpy(), joint / joint.sum(-1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("which", ["gm1", "gm2"])
def test_score_matches_autograd(which, request):
    gm = request.getfixturevalue(which)
    g = torch.Generator().manual_seed(1)
    x = 2.0 * torch.randn(7, gm.dim, generator=g, dtype=F64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x).sum(), x)
    got = gm.score(x.detach())
    assert got.shape == (7, gm.dim)
    torch.testing.assert_close(got, grad, rtol=1e-10, atol=1e-12)


def _closed_form_moments(w, m, v):
    m = m.reshape(len(w), -1)
    mean = (w[:, None] * m).sum(0)
    d = m.shape[1]
    second = sum(
        wk * (vk * np.eye(d) + np.outer(mk, mk)) for wk, mk, vk in zip(w, m, v, strict=True)
    )
    return mean, second - np.outer(mean, mean)


@pytest.mark.parametrize("which", ["gm1", "gm2"])
def test_mean_and_covariance_match_closed_form_and_samples(which, request):
    gm = request.getfixturevalue(which)
    w, m, v = (W1, M1, V1) if which == "gm1" else (W2, M2, V2)
    mean_cf, cov_cf = _closed_form_moments(w, m, v)
    np.testing.assert_allclose(gm.mean().numpy(), mean_cf, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gm.covariance().numpy(), cov_cf, rtol=1e-12, atol=1e-14)

    n = 200_000
    x = gm.sample(n, generator=torch.Generator().manual_seed(2)).numpy()
    assert x.shape == (n, gm.dim)
    mean_se = x.std(0) / math.sqrt(n)
    assert np.all(np.abs(x.mean(0) - gm.mean().numpy()) < 5 * mean_se)
    c = x - x.mean(0)
    prods = c[:, :, None] * c[:, None, :]
    cov_se = prods.std(0) / math.sqrt(n)
    assert np.all(np.abs(prods.mean(0) - gm.covariance().numpy()) < 5 * cov_se + 1e-12)


def test_sample_is_reproducible_with_generator(gm2):
    a = gm2.sample(50, generator=torch.Generator().manual_seed(3))
    b = gm2.sample(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def _quad_moments():
    mean, _ = integrate.quad(lambda x: x * _pdf1_scalar(x), -np.inf, np.inf, limit=200)
    var, _ = integrate.quad(lambda x: (x - mean) ** 2 * _pdf1_scalar(x), -np.inf, np.inf, limit=200)
    return mean, var


def test_moment_match_equals_numerical_moments(gm1):
    mean, cov = moment_match(gm1)
    assert mean.shape == (1,) and cov.shape == (1, 1)
    q_mean, q_var = _quad_moments()
    assert mean.item() == pytest.approx(q_mean, rel=1e-9, abs=1e-12)
    assert cov.item() == pytest.approx(q_var, rel=1e-9)


def _forward_kl(mu, var):
    """KL(p || N(mu, var)) by quadrature, p the 1-D mixture (scipy densities)."""

    def integrand(x):
        p = _pdf1_scalar(x)
        log_q = -0.5 * math.log(2 * math.pi * var) - (x - mu) ** 2 / (2 * var)
        return 0.0 if p == 0 else p * (math.log(p) - log_q)

    val, _ = integrate.quad(integrand, -30, 30, limit=400, points=list(M1))
    return val


def test_moment_match_minimises_forward_kl(gm1):
    mean, cov = moment_match(gm1)
    mu, var = mean.item(), cov.item()
    best = _forward_kl(mu, var)
    assert best > 0
    for d_mu, f_var in [(0.1, 1.0), (-0.1, 1.0), (0.0, 1.1), (0.0, 0.9), (0.05, 1.05)]:
        assert _forward_kl(mu + d_mu, var * f_var) > best + 1e-5
