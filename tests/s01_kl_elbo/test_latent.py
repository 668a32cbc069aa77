"""Tests of course_utils.s01_kl_elbo.latent against Gaussian algebra, scipy densities and quadrature."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from course_utils.s01_kl_elbo.latent import LinearGaussianLVM, linear_latent_model, squared_latent_model

F64 = torch.float64
mvn = stats.multivariate_normal

# ----------------------------------------------------------------------------- LinearGaussianLVM

NOISE_VAR = 0.4


@pytest.fixture
def lvm_np():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 2)), rng.normal(size=3)


@pytest.fixture
def lvm(lvm_np):
    W, b = lvm_np
    return LinearGaussianLVM(torch.tensor(W), torch.tensor(b), NOISE_VAR)


def _conditioning(W, b, s2, x):
    """p(z | x) from the joint Gaussian of (z, x): [[I, W^T], [W, W W^T + s2 I]], mean (0, b)."""
    C = W @ W.T + s2 * np.eye(W.shape[0])
    gain = np.linalg.solve(C, W).T  # W^T C^{-1}
    return (x - b) @ gain.T, np.eye(W.shape[1]) - gain @ W


def test_log_evidence_matches_scipy(lvm, lvm_np):
    W, b = lvm_np
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    got = lvm.log_evidence(torch.tensor(x))
    assert got.shape == (5,)
    want = mvn.logpdf(x, b, W @ W.T + NOISE_VAR * np.eye(3))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    assert lvm.log_evidence(torch.tensor(x[0])).shape == ()


def test_posterior_matches_gaussian_conditioning(lvm, lvm_np):
    W, b = lvm_np
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3))
    mean, cov = lvm.posterior(torch.tensor(x))
    want_mean, want_cov = _conditioning(W, b, NOISE_VAR, x)
    assert mean.shape == (4, 2) and cov.shape == (2, 2)
    np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov.numpy(), want_cov, rtol=1e-10, atol=1e-12)


def test_posterior_by_quadrature_for_scalar_latent():
    W = np.array([[1.3], [-0.6]])
    b = np.array([0.2, -0.1])
    s2 = 0.7
    x = np.array([1.1, -0.4])
    model = LinearGaussianLVM(torch.tensor(W), torch.tensor(b), s2)

    def joint(z):  # N(x; W z + b, s2 I) N(z; 0, 1), written out for speed
        r2 = np.sum((x - W[:, 0] * z - b) ** 2)
        return math.exp(-r2 / (2 * s2) - z**2 / 2) / ((2 * math.pi * s2) * math.sqrt(2 * math.pi))

    Z, _ = integrate.quad(joint, -np.inf, np.inf, epsabs=1e-14)
    m1, _ = integrate.quad(lambda z: z * joint(z) / Z, -np.inf, np.inf, epsabs=1e-14)
    var, _ = integrate.quad(lambda z: (z - m1) ** 2 * joint(z) / Z, -np.inf, np.inf, epsabs=1e-14)
    mean, cov = model.posterior(torch.tensor(x))
    assert model.log_evidence(torch.tensor(x)).item() == pytest.approx(math.log(Z), rel=1e-8)
    assert mean.item() == pytest.approx(m1, rel=1e-8)
    assert cov.item() == pytest.approx(var, rel=1e-8)


def test_log_joint_matches_scipy(lvm, lvm_np):
    W, b = lvm_np
    rng = np.random.default_rng(3)
    x = rng.normal(size=3)
    z = rng.normal(size=(6, 2))
    want = np.array(
        [mvn.logpdf(x, W @ zk + b, NOISE_VAR * np.eye(3)) + mvn.logpdf(zk, np.zeros(2)) for zk in z]
    )
    got = lvm.log_joint(torch.tensor(x), torch.tensor(z))
    assert got.shape == (6,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(
        lvm.log_prior(torch.tensor(z)).numpy(), mvn.logpdf(z, np.zeros(2)), rtol=1e-12
    )


def test_bayes_identity_holds_for_arbitrary_z(lvm, lvm_np):
    """log p(x) = log p(x, z) - log p(z | x) for every z, posterior density from scipy."""
    W, b = lvm_np
    rng = np.random.default_rng(4)
    x = rng.normal(size=3)
    post_mean, post_cov = _conditioning(W, b, NOISE_VAR, x)
    z = 3.0 * rng.normal(size=(10, 2))
    lhs = lvm.log_evidence(torch.tensor(x)).item()
    log_joint = lvm.log_joint(torch.tensor(x), torch.tensor(z)).numpy()
    rhs = log_joint - mvn.logpdf(z, post_mean, post_cov)
    np.testing.assert_allclose(rhs, lhs, rtol=1e-10)


def test_sample_has_the_evidence_covariance(lvm, lvm_np):
    W, b = lvm_np
    n = 100_000
    z, x = lvm.sample(n, generator=torch.Generator().manual_seed(5))
    assert z.shape == (n, 2) and x.shape == (n, 3)
    x = x.numpy()
    se = x.std(0) / math.sqrt(n)
    assert np.all(np.abs(x.mean(0) - b) < 5 * se)
    c = x - x.mean(0)
    prods = c[:, :, None] * c[:, None, :]
    cov_se = prods.std(0) / math.sqrt(n)
    assert np.all(np.abs(prods.mean(0) - (W @ W.T + NOISE_VAR * np.eye(3))) < 5 * cov_se)


# ----------------------------------------------------------------------------- Latent1D

LINEAR = [dict(x=1.5, w=1.0, noise_var=0.5), dict(x=-0.7, w=2.0, noise_var=0.3)]
SQUARED = [dict(x=2.0, noise_var=0.3), dict(x=1.0, noise_var=0.5)]


def _lik_linear(x, w, noise_var):
    return lambda z: stats.norm.pdf(x, w * z, math.sqrt(noise_var))


def _lik_squared(x, noise_var):
    return lambda z: stats.norm.pdf(x, z**2, math.sqrt(noise_var))


def _cases():
    for kw in LINEAR:
        yield pytest.param(linear_latent_model, kw, _lik_linear(**kw), id=f"linear{kw}")
    for kw in SQUARED:
        yield pytest.param(squared_latent_model, kw, _lik_squared(**kw), id=f"squared{kw}")


CASES = list(_cases())


@pytest.mark.parametrize(("factory", "kw", "lik"), CASES)
def test_latent1d_log_joint_matches_scipy(factory, kw, lik):
    model = factory(**kw)
    z = np.linspace(-3, 3, 13)
    want = np.log(lik(z) * stats.norm.pdf(z))
    np.testing.assert_allclose(model.log_joint(torch.tensor(z)).numpy(), want, rtol=1e-12)


@pytest.mark.parametrize(("factory", "kw", "lik"), CASES)
def test_latent1d_log_evidence_matches_quadrature(factory, kw, lik):
    model = factory(**kw)
    want, _ = integrate.quad(lambda z: lik(z) * stats.norm.pdf(z), -np.inf, np.inf, epsabs=1e-13)
    assert model.log_evidence().item() == pytest.approx(math.log(want), abs=1e-8)
    # the posterior on the grid is normalised
    assert model.log_posterior().exp().sum().item() * model.dz == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("kw", LINEAR)
def test_linear_latent_log_evidence_closed_form(kw):
    model = linear_latent_model(**kw)
    want = stats.norm.logpdf(kw["x"], 0.0, math.sqrt(kw["w"] ** 2 + kw["noise_var"]))
    assert model.log_evidence().item() == pytest.approx(want, abs=1e-10)


MU_VAR = [(0.0, 1.0), (0.5, 0.2), (-1.0, 0.5), (1.2, 0.05)]


@pytest.mark.parametrize(("factory", "kw", "lik"), CASES)
def test_evidence_equals_elbo_plus_kl(factory, kw, lik):
    model = factory(**kw)
    mu = torch.tensor([m for m, _ in MU_VAR], dtype=F64)
    var = torch.tensor([v for _, v in MU_VAR], dtype=F64)
    elbo, kl = model.elbo(mu, var), model.kl_to_posterior(mu, var)
    assert elbo.shape == (4,) and kl.shape == (4,)
    log_ev = model.log_evidence().item()
    # exact up to the mass of q outside the [-6, 6] grid (about 2e-9 for q = N(0, 1))
    np.testing.assert_allclose((elbo + kl).numpy(), log_ev, rtol=0, atol=1e-7)
    assert bool(torch.all(kl > 0))
    assert bool(torch.all(elbo < log_ev))


def _mc_elbo(lik, mu, var, n, seed):
    z = np.random.default_rng(seed).normal(mu, math.sqrt(var), size=n)
    terms = np.log(lik(z)) + stats.norm.logpdf(z) - stats.norm.logpdf(z, mu, math.sqrt(var))
    return terms.mean(), terms.std() / math.sqrt(n)


@pytest.mark.parametrize(("factory", "kw", "lik"), CASES)
def test_elbo_matches_independent_monte_carlo(factory, kw, lik):
    model = factory(**kw)
    for i, (mu, var) in enumerate(MU_VAR):
        est, se = _mc_elbo(lik, mu, var, 100_000, seed=10 + i)
        got = model.elbo(torch.tensor(mu, dtype=F64), torch.tensor(var, dtype=F64)).item()
        assert abs(got - est) < 5 * se


@pytest.mark.parametrize("kw", LINEAR)
def test_linear_latent_elbo_closed_form(kw):
    x, w, s2 = kw["x"], kw["w"], kw["noise_var"]
    model = linear_latent_model(**kw)
    for mu, var in MU_VAR:
        expected_log_lik = -0.5 * math.log(2 * math.pi * s2) - ((x - w * mu) ** 2 + w**2 * var) / (
            2 * s2
        )
        expected_log_prior = -0.5 * math.log(2 * math.pi) - 0.5 * (mu**2 + var)
        entropy = 0.5 * math.log(2 * math.pi * math.e * var)
        want = expected_log_lik + expected_log_prior + entropy
        got = model.elbo(torch.tensor(mu, dtype=F64), torch.tensor(var, dtype=F64)).item()
        assert got == pytest.approx(want, abs=1e-6)  # the grid truncates q's tails at +-6


@pytest.mark.parametrize("kw", LINEAR)
def test_gap_closes_at_exact_posterior_of_linear_model(kw):
    x, w, s2 = kw["x"], kw["w"], kw["noise_var"]
    post_var = 1.0 / (1.0 + w**2 / s2)
    post_mean = post_var * w * x / s2
    model = linear_latent_model(**kw)
    mu, var = torch.tensor(post_mean, dtype=F64), torch.tensor(post_var, dtype=F64)
    assert model.kl_to_posterior(mu, var).item() == pytest.approx(0.0, abs=1e-9)
    assert model.elbo(mu, var).item() == pytest.approx(model.log_evidence().item(), abs=1e-9)
    want = stats.norm.logpdf(model.z.numpy(), post_mean, math.sqrt(post_var))
    np.testing.assert_allclose(model.log_posterior().numpy(), want, rtol=1e-8, atol=1e-8)
    # moving away from the posterior opens the gap
    assert model.kl_to_posterior(mu + 0.3, var).item() > 1e-2


@pytest.mark.parametrize("kw", SQUARED)
def test_squared_latent_posterior_is_bimodal(kw):
    x, s2 = kw["x"], kw["noise_var"]
    model = squared_latent_model(**kw)
    lp = model.log_posterior().numpy()
    z = model.z.numpy()
    interior = np.arange(1, len(z) - 1)
    peaks = interior[(lp[interior] > lp[interior - 1]) & (lp[interior] > lp[interior + 1])]
    assert len(peaks) == 2
    # about +-sqrt(x); exactly +-sqrt(x - s2 / 2) once the N(0, 1) prior is included
    np.testing.assert_allclose(z[peaks], [-math.sqrt(x), math.sqrt(x)], atol=0.15)
    exact = math.sqrt(x - s2 / 2)
    np.testing.assert_allclose(z[peaks], [-exact, exact], atol=model.dz)
    assert lp[peaks[0]] == pytest.approx(lp[peaks[1]], abs=1e-9)  # symmetric in z
    # a trough at z = 0, as deep as the log-joint difference says
    assert z[len(z) // 2] == pytest.approx(0.0, abs=1e-12)
    depth = -(x**2) / (2 * s2) + (s2 / 2) ** 2 / (2 * s2) + exact**2 / 2
    assert lp[len(z) // 2] - lp[peaks[1]] == pytest.approx(depth, abs=1e-3)
    assert depth < -0.5
    # no single Gaussian fits both modes: the gap stays open
    kls = [
        model.kl_to_posterior(torch.tensor(m, dtype=F64), torch.tensor(v, dtype=F64)).item()
        for m in (0.0, exact)
        for v in (0.1, 0.3, 1.0, 2.0)
    ]
    assert min(kls) > 0.3


def test_linear_gaussian_elbo_closed_form_equals_evidence_minus_kl_to_posterior():
    """Oracle: log p(x) from scipy, KL(q || p(z|x)) from torch.distributions."""
    from torch.distributions import MultivariateNormal, kl_divergence

    g = torch.Generator().manual_seed(5)
    W = torch.randn(6, 3, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    model = LinearGaussianLVM(W, b, 0.3)
    x = torch.randn(6, generator=g, dtype=torch.float64)
    log_px = stats.multivariate_normal(b.numpy(), (W @ W.T + 0.3 * torch.eye(6, dtype=torch.float64)).numpy()).logpdf(
        x.numpy()
    )
    S = torch.linalg.inv(torch.eye(3, dtype=torch.float64) + W.T @ W / 0.3)
    post = MultivariateNormal(S @ W.T @ (x - b) / 0.3, S)
    for _ in range(3):
        mu = torch.randn(3, generator=g, dtype=torch.float64)
        var = 0.2 + torch.rand(3, generator=g, dtype=torch.float64)
        kl = kl_divergence(MultivariateNormal(mu, torch.diag(var)), post)
        assert float(model.elbo(x, mu, var)) == pytest.approx(log_px - float(kl), abs=1e-9)
