"""Tests of course_utils.s01_kl_elbo.elbo against the linear-Gaussian model's closed forms and quadrature.

The model z ~ N(0, I_2), x | z ~ N(W z + b, s2 I_3) is written here with torch.distributions
and numpy, independently of course_utils.s01_kl_elbo.latent.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import MultivariateNormal, Normal

from course_utils.s01_kl_elbo.elbo import (
    elbo_estimate,
    fit_gaussian_forward_kl,
    fit_gaussian_reverse_kl,
    importance_log_evidence,
    iwae_bound,
    log_mean_exp,
    log_normal_diag,
    reparametrize,
)

F64 = torch.float64
S2 = 0.4


class Model:
    """Linear-Gaussian model and one observation, with closed-form evidence and posterior."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.W, self.b = rng.normal(size=(3, 2)), rng.normal(size=3)
        self.x = self.W @ rng.normal(size=2) + self.b + math.sqrt(S2) * rng.normal(size=3)
        C = self.W @ self.W.T + S2 * np.eye(3)
        self.log_px = stats.multivariate_normal.logpdf(self.x, self.b, C)
        gain = np.linalg.solve(C, self.W).T
        self.post_mean = gain @ (self.x - self.b)
        self.post_cov = np.eye(2) - gain @ self.W
        self._W, self._b, self._x = map(torch.tensor, (self.W, self.b, self.x))

    def log_joint(self, z):
        lik = Normal(z @ self._W.T + self._b, math.sqrt(S2)).log_prob(self._x).sum(-1)
        return lik + Normal(0.0, 1.0).log_prob(z).sum(-1)

    def elbo(self, mu, var):
        """Closed-form ELBO of q = N(mu, diag(var)): E_q log p(x|z) + E_q log p(z) + H(q)."""
        r = self.x - self.W @ mu - self.b
        e_lik = -1.5 * math.log(2 * math.pi * S2) - (r @ r + (self.W**2 * var).sum()) / (2 * S2)
        e_prior = -math.log(2 * math.pi) - 0.5 * (mu @ mu + var.sum())
        entropy = 0.5 * np.sum(np.log(2 * math.pi * math.e * var))
        return e_lik + e_prior + entropy

    def elbo_grad(self, mu, var):
        """d ELBO / d mu and d ELBO / d var of the closed form above."""
        g_mu = self.W.T @ (self.x - self.W @ mu - self.b) / S2 - mu
        g_var = -(self.W**2).sum(0) / (2 * S2) - 0.5 + 0.5 / var
        return g_mu, g_var


@pytest.fixture(scope="module")
def model():
    return Model()


def _diag_q(mu, var):
    q = Normal(torch.tensor(mu), torch.tensor(var).sqrt())
    return q, (lambda z: q.log_prob(z).sum(-1))


# ----------------------------------------------------------------------------- log_mean_exp


def test_log_mean_exp_is_stable_for_very_negative_values():
    a = torch.tensor([-1000.0, -1000.0, -1000.0], dtype=F64)
    assert torch.isinf(torch.log(torch.exp(a).mean()))  # the naive formula underflows
    assert log_mean_exp(a).item() == pytest.approx(-1000.0, abs=1e-12)
    b = torch.tensor([-1000.0, -1001.0], dtype=F64)
    assert log_mean_exp(b).item() == pytest.approx(-1000.0 + math.log((1 + math.exp(-1)) / 2))
    assert log_mean_exp(torch.tensor([1000.0, 1000.0], dtype=F64)).item() == pytest.approx(1000.0)


def test_log_mean_exp_matches_numpy_and_respects_dim():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 6))
    for dim in (0, 1):
        want = np.log(np.mean(np.exp(a), axis=dim))
        np.testing.assert_allclose(log_mean_exp(torch.tensor(a), dim=dim).numpy(), want, rtol=1e-12)


# ----------------------------------------------------------------------------- importance sampling


def test_importance_with_exact_posterior_is_exact(model):
    q = MultivariateNormal(torch.tensor(model.post_mean), torch.tensor(model.post_cov))
    torch.manual_seed(0)
    z = q.sample((64,))
    log_w = model.log_joint(z) - q.log_prob(z)
    assert log_w.std().item() < 1e-12  # every weight equals p(x)
    est = importance_log_evidence(model.log_joint, q.log_prob, z)
    assert est.item() == pytest.approx(model.log_px, abs=1e-12)
    # a single sample suffices
    assert importance_log_evidence(model.log_joint, q.log_prob, z[:1]).item() == pytest.approx(
        model.log_px, abs=1e-12
    )


def test_naive_monte_carlo_with_prior_converges(model):
    prior, log_prior = _diag_q(np.zeros(2), np.ones(2))
    torch.manual_seed(1)
    z = prior.sample((100_000,))
    est = importance_log_evidence(model.log_joint, log_prior, z).item()
    log_w = model.log_joint(z) - log_prior(z)
    w = (log_w - log_w.max()).exp()
    se = (w.std() / w.mean()).item() / math.sqrt(len(w))  # delta method for log of a mean
    assert abs(est - model.log_px) < 5 * se
    assert se < 0.02


def test_proposal_near_posterior_has_smaller_variance_than_prior(model):
    prior, log_prior = _diag_q(np.zeros(2), np.ones(2))
    near, log_near = _diag_q(model.post_mean + 0.1, 1.2 * np.diag(model.post_cov))

    def spread(q, log_q):
        ests = []
        for seed in range(40):
            torch.manual_seed(seed)
            ests.append(importance_log_evidence(model.log_joint, log_q, q.sample((100,))).item())
        return np.var(ests), np.mean(ests)

    var_prior, mean_prior = spread(prior, log_prior)
    var_near, mean_near = spread(near, log_near)
    assert var_prior > 10 * var_near
    assert abs(mean_near - model.log_px) < 0.05


def test_importance_estimate_is_between_elbo_and_log_evidence(model):
    mu, var = model.post_mean + 1.0, 2.0 * np.diag(model.post_cov)
    q, log_q = _diag_q(mu, var)
    torch.manual_seed(2)
    z = q.sample((600, 5))  # 600 estimates from K = 5 samples each
    ests = np.array([importance_log_evidence(model.log_joint, log_q, zr).item() for zr in z])
    se = ests.std() / math.sqrt(len(ests))
    elbo = model.elbo(mu, var)
    assert ests.mean() < model.log_px - 5 * se  # Jensen: E log p_hat <= log p(x)
    assert ests.mean() > elbo + 5 * se  # and K = 5 samples beat the ELBO (K = 1)


# ----------------------------------------------------------------------------- ELBO estimate


def test_reparametrize_and_log_normal_diag():
    mu = torch.tensor([0.5, -1.0], dtype=F64)
    var = torch.tensor([0.25, 4.0], dtype=F64)
    eps = torch.randn(100_000, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    z = reparametrize(mu, var, eps)
    torch.testing.assert_close(z, mu + torch.sqrt(var) * eps)
    se = z.std(0) / math.sqrt(len(z))
    assert bool(torch.all((z.mean(0) - mu).abs() < 5 * se))
    assert bool(torch.all((z.var(0) / var - 1).abs() < 0.02))
    want = Normal(mu, var.sqrt()).log_prob(z[:10]).sum(-1)
    torch.testing.assert_close(log_normal_diag(z[:10], mu, var), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.7, 0.5), (-1.0, 2.0)])
def test_elbo_estimate_matches_closed_form(model, shift, scale):
    mu = model.post_mean + shift
    var = scale * np.diag(model.post_cov)
    eps = torch.randn(100_000, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    est = elbo_estimate(model.log_joint, torch.tensor(mu), torch.tensor(var), eps).item()
    z = torch.tensor(mu) + torch.tensor(var).sqrt() * eps
    terms = model.log_joint(z) - Normal(torch.tensor(mu), torch.tensor(var).sqrt()).log_prob(z).sum(
        -1
    )
    se = terms.std().item() / math.sqrt(len(eps))
    want = model.elbo(mu, var)
    assert abs(est - want) < 5 * se
    assert want < model.log_px


def test_oracle_closed_form_elbo_is_tight_at_a_diagonal_posterior():
    """Guards the test's own closed form: with orthogonal columns of W, p(z|x) is diagonal,
    so a mean-field q can equal it and the closed-form ELBO must reach log p(x)."""
    m = Model()
    m.W = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    C = m.W @ m.W.T + S2 * np.eye(3)
    gain = np.linalg.solve(C, m.W).T
    mean, cov = gain @ (m.x - m.b), np.eye(2) - gain @ m.W
    assert abs(cov[0, 1]) < 1e-15
    log_px = stats.multivariate_normal.logpdf(m.x, m.b, C)
    assert m.elbo(mean, np.diag(cov)) == pytest.approx(log_px, abs=1e-12)
    assert m.elbo(mean + 0.1, np.diag(cov)) < log_px - 1e-3


def test_elbo_estimate_gradient_matches_closed_form(model):
    mu0, var0 = model.post_mean + 0.5, 0.8 * np.diag(model.post_cov)
    mu = torch.tensor(mu0, requires_grad=True)
    var = torch.tensor(var0, requires_grad=True)
    eps = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    elbo_estimate(model.log_joint, mu, var, eps).backward()
    assert mu.grad is not None and var.grad is not None
    g_mu, g_var = model.elbo_grad(mu0, var0)
    # Monte Carlo tolerance from the per-sample reparametrized gradients:
    # d/dmu = score of the joint at z; d/dvar = score * eps / (2 sigma) + 1 / (2 var)
    e = eps.numpy()
    z = mu0 + np.sqrt(var0) * e
    score = (model.x - z @ model.W.T - model.b) @ model.W / S2 - z
    per_mu, per_var = score, score * e / (2 * np.sqrt(var0)) + 0.5 / var0
    se_mu, se_var = per_mu.std(0) / math.sqrt(len(z)), per_var.std(0) / math.sqrt(len(z))
    assert np.all(np.abs(mu.grad.numpy() - g_mu) < 5 * se_mu)
    assert np.all(np.abs(var.grad.numpy() - g_var) < 5 * se_var)
    assert np.all(np.abs(g_mu) > 20 * se_mu)  # the check is not trivially about zero


# ----------------------------------------------------------------------------- forward / reverse KL

MIX_W = np.array([0.4, 0.6])
MIX_M = np.array([-3.0, 3.0])
MIX_V = np.array([0.5, 0.8])


def _mixture_logpdf(z):
    comps = np.log(MIX_W) + stats.norm.logpdf(np.asarray(z)[..., None], MIX_M, np.sqrt(MIX_V))
    return np.logaddexp.reduce(comps, axis=-1)


@pytest.fixture(scope="module")
def grid():
    z = np.linspace(-12, 12, 2401)
    return torch.tensor(z), torch.tensor(_mixture_logpdf(z))


def test_forward_kl_fit_equals_mixture_moments(grid):
    z, log_p = grid
    mean = float(np.sum(MIX_W * MIX_M))
    var = float(np.sum(MIX_W * (MIX_V + MIX_M**2)) - mean**2)
    mu_f, var_f = fit_gaussian_forward_kl(log_p, z)
    assert mu_f == pytest.approx(mean, abs=1e-8)
    assert var_f == pytest.approx(var, rel=1e-8)
    # an unnormalised target gives the same fit
    mu_u, var_u = fit_gaussian_forward_kl(log_p + 3.7, z)
    assert (mu_u, var_u) == pytest.approx((mu_f, var_f), rel=1e-12)
    gap = MIX_M[1] - MIX_M[0]
    assert var_f > gap**2 / 4  # mass-covering: spans both modes


def _reverse_kl(mu, var):
    """KL(N(mu, var) || p) by quadrature, p the scipy mixture."""
    s = math.sqrt(var)

    def integrand(z):
        log_q = -0.5 * math.log(2 * math.pi * var) - (z - mu) ** 2 / (2 * var)
        log_comps = (
            np.log(MIX_W) - 0.5 * np.log(2 * math.pi * MIX_V) - (z - MIX_M) ** 2 / (2 * MIX_V)
        )
        return math.exp(log_q) * (log_q - np.logaddexp(*log_comps))

    return integrate.quad(integrand, mu - 12 * s, mu + 12 * s, epsabs=1e-12)[0]


@pytest.mark.parametrize(("mu0", "k"), [(-2.5, 0), (2.2, 1)])
def test_reverse_kl_fit_seeks_the_nearest_mode(grid, mu0, k):
    z, log_p = grid
    mu, var = fit_gaussian_reverse_kl(log_p, z, mu0=mu0, var0=1.0)
    assert mu == pytest.approx(MIX_M[k], abs=0.02)
    assert var == pytest.approx(MIX_V[k], rel=0.03)
    _, var_f = fit_gaussian_forward_kl(log_p, z)
    assert var < var_f / 5
    # the fit is a local minimum of the reverse KL, computed independently by quadrature
    best = _reverse_kl(mu, var)
    assert best == pytest.approx(-math.log(MIX_W[k]), abs=0.01)  # q sits on one component
    for d_mu, f_var in [(0.05, 1.0), (-0.05, 1.0), (0.0, 1.1), (0.0, 0.9)]:
        assert _reverse_kl(mu + d_mu, var * f_var) > best
    assert _reverse_kl(mu0, 1.0) > best + 0.05


def test_reverse_kl_fit_is_unaffected_by_normalisation(grid):
    z, log_p = grid
    a = fit_gaussian_reverse_kl(log_p, z, mu0=2.0, var0=1.5)
    b = fit_gaussian_reverse_kl(log_p - 5.0, z, mu0=2.0, var0=1.5)
    assert a == pytest.approx(b, rel=1e-8, abs=1e-10)


# ----------------------------------------------------------------------------- iwae_bound


def _iwae_oracle(model, mu, var, eps):
    """Mean over the sets of log (1/K) sum_k w_k, with q and p from torch.distributions."""
    q = MultivariateNormal(torch.tensor(mu), torch.diag(torch.tensor(var)))
    z = q.loc + torch.tensor(var).sqrt() * eps
    log_w = model.log_joint(z) - q.log_prob(z)
    return float((torch.logsumexp(log_w, 1) - math.log(eps.shape[1])).mean())


def test_iwae_bound_matches_an_independent_implementation(model):
    mu, var = np.array([0.1, -0.3]), np.array([0.4, 0.7])
    eps = torch.randn(20, 6, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    got = iwae_bound(model.log_joint, torch.tensor(mu), torch.tensor(var), eps)
    assert float(got) == pytest.approx(_iwae_oracle(model, mu, var, eps), rel=1e-12)


def test_iwae_bound_at_k1_is_the_elbo_estimate_and_tends_to_the_closed_form_elbo(model):
    mu, var = np.array([0.2, 0.1]), np.array([0.5, 0.6])
    eps = torch.randn(40_000, 1, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    args = (model.log_joint, torch.tensor(mu), torch.tensor(var))
    assert float(iwae_bound(*args, eps)) == pytest.approx(float(elbo_estimate(*args, eps[:, 0])), rel=1e-12)
    assert float(iwae_bound(*args, eps)) == pytest.approx(model.elbo(mu, var), abs=0.03)


def test_iwae_bound_climbs_from_the_elbo_to_log_p_x(model):
    """ELBO <= L_1 <= L_K <= log p(x) (Burda et al. 2016), with the closed-form ELBO and scipy's log p(x)."""
    mu, var = model.post_mean + 0.3, 2.0 * np.diag(model.post_cov)
    eps = torch.randn(4_000, 256, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    args = (model.log_joint, torch.tensor(mu), torch.tensor(var))
    bounds = [float(iwae_bound(*args, eps[:, :K])) for K in (1, 4, 16, 64, 256)]
    assert bounds[0] == pytest.approx(model.elbo(mu, var), abs=0.05)
    assert all(a < b for a, b in zip(bounds, bounds[1:], strict=False))
    assert model.log_px - 0.01 < bounds[-1] < model.log_px + 0.005


def test_iwae_bound_gradients_at_k1_are_the_closed_form_elbo_gradients_on_average(model):
    mu, var = torch.tensor([0.2, -0.1], dtype=F64, requires_grad=True), torch.tensor([0.5, 0.8], dtype=F64,
                                                                                      requires_grad=True)
    eps = torch.randn(100_000, 1, 2, generator=torch.Generator().manual_seed(6), dtype=F64)
    g_mu, g_var = torch.autograd.grad(iwae_bound(model.log_joint, mu, var, eps), (mu, var))
    want_mu, want_var = model.elbo_grad(mu.detach().numpy(), var.detach().numpy())
    assert np.allclose(g_mu.numpy(), want_mu, atol=0.05) and np.allclose(g_var.numpy(), want_var, atol=0.1)
