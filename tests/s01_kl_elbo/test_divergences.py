"""Tests of course_utils.s01_kl_elbo.divergences against independent oracles (scipy, torch.distributions).

Every reference function is compared with a closed form or another library, never with itself.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Categorical, Normal, kl_divergence

from course_utils.s01_kl_elbo.divergences import (
    kl_discrete,
    kl_monte_carlo,
    kl_normal,
    kl_on_grid,
    kl_std_normal,
    kl_std_normal_mc,
)

F64 = torch.float64


def _dirichlet(rng, shape, k):
    return rng.dirichlet(np.ones(k), size=shape)


# ----------------------------------------------------------------------------- kl_discrete


def test_kl_discrete_matches_scipy_entropy_and_torch():
    rng = np.random.default_rng(0)
    p, q = _dirichlet(rng, 20, 6), _dirichlet(rng, 20, 6)
    got = kl_discrete(torch.tensor(p), torch.tensor(q))
    assert got.shape == (20,)
    assert got.dtype == F64
    want_scipy = np.array([stats.entropy(pi, qi) for pi, qi in zip(p, q, strict=True)])
    np.testing.assert_allclose(got.numpy(), want_scipy, rtol=1e-12, atol=1e-14)
    cat_p, cat_q = Categorical(probs=torch.tensor(p)), Categorical(probs=torch.tensor(q))
    want_torch = kl_divergence(cat_p, cat_q)
    np.testing.assert_allclose(got.numpy(), want_torch.numpy(), rtol=1e-12, atol=1e-14)


def test_kl_discrete_zero_in_p_contributes_nothing():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=F64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    got = kl_discrete(p, q)
    want = 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.3)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(want, rel=1e-13)
    assert got.item() == pytest.approx(stats.entropy(p.numpy(), q.numpy()), rel=1e-13)
    # zeros in both p and q at the same place: still 0 * log(0 / 0) = 0, no NaN
    p0 = torch.tensor([0.25, 0.75, 0.0], dtype=F64)
    q0 = torch.tensor([0.5, 0.5, 0.0], dtype=F64)
    want0 = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl_discrete(p0, q0).item() == pytest.approx(want0, rel=1e-13)


def test_kl_discrete_infinite_when_q_misses_support_of_p():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=F64)
    q = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    got = kl_discrete(p, q)
    assert math.isinf(got.item()) and got.item() > 0
    assert math.isinf(stats.entropy(p.numpy(), q.numpy()))
    # the reverse direction is finite: q puts no mass where p lacks it
    assert kl_discrete(q, p).item() == pytest.approx(math.log(2.0), rel=1e-13)


def test_kl_discrete_nonnegative_and_zero_only_on_equality():
    rng = np.random.default_rng(1)
    p = torch.tensor(_dirichlet(rng, 500, 4))
    q = torch.tensor(_dirichlet(rng, 500, 4))
    kl = kl_discrete(p, q)
    assert bool(torch.all(kl > 0))
    assert torch.allclose(kl_discrete(p, p), torch.zeros(500, dtype=F64), atol=1e-15)


def test_kl_discrete_is_asymmetric():
    p = torch.tensor([0.9, 0.1], dtype=F64)
    q = torch.tensor([0.5, 0.5], dtype=F64)
    forward = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    reverse = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert kl_discrete(p, q).item() == pytest.approx(forward, rel=1e-13)
    assert kl_discrete(q, p).item() == pytest.approx(reverse, rel=1e-13)
    assert abs(forward - reverse) > 0.1


def test_kl_discrete_batch_shape():
    rng = np.random.default_rng(2)
    p, q = _dirichlet(rng, (2, 3), 5), _dirichlet(rng, (2, 3), 5)
    got = kl_discrete(torch.tensor(p), torch.tensor(q))
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert got[i, j].item() == pytest.approx(stats.entropy(p[i, j], q[i, j]), rel=1e-12)
    single = kl_discrete(torch.tensor(p[0, 0]), torch.tensor(q[0, 0]))
    assert single.shape == ()


# ----------------------------------------------------------------------------- kl_normal


def test_kl_normal_matches_torch_summed_over_last_axis():
    g = torch.Generator().manual_seed(3)
    mu_q = torch.randn(4, 3, generator=g, dtype=F64)
    var_q = torch.rand(4, 3, generator=g, dtype=F64) + 0.1
    mu_p = torch.randn(3, generator=g, dtype=F64)  # broadcast over the batch
    var_p = torch.rand(3, generator=g, dtype=F64) + 0.1
    got = kl_normal(mu_q, var_q, mu_p, var_p)
    want = kl_divergence(Normal(mu_q, var_q.sqrt()), Normal(mu_p, var_p.sqrt())).sum(-1)
    assert got.shape == (4,)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    assert torch.allclose(kl_normal(mu_q, var_q, mu_q, var_q), torch.zeros(4, dtype=F64))


def test_kl_normal_matches_quadrature_1d():
    mu_q, s_q, mu_p, s_p = 0.7, 0.6, -0.4, 1.3

    def integrand(x):
        return stats.norm.pdf(x, mu_q, s_q) * (
            stats.norm.logpdf(x, mu_q, s_q) - stats.norm.logpdf(x, mu_p, s_p)
        )

    want, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-12)
    got = kl_normal(
        torch.tensor([mu_q], dtype=F64),
        torch.tensor([s_q**2], dtype=F64),
        torch.tensor([mu_p], dtype=F64),
        torch.tensor([s_p**2], dtype=F64),
    )
    assert got.item() == pytest.approx(want, rel=1e-9)


# ----------------------------------------------------------------------------- kl_std_normal


def test_kl_std_normal_matches_lecture_form_and_torch():
    rng = np.random.default_rng(4)
    mu = rng.normal(size=(8, 5))
    log_var = 0.8 * rng.normal(size=(8, 5))
    want = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)
    got = kl_std_normal(torch.tensor(mu), torch.tensor(log_var))
    assert got.shape == (8,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    std = torch.tensor(np.exp(0.5 * log_var))
    want_torch = kl_divergence(
        Normal(torch.tensor(mu), std), Normal(torch.zeros(5, dtype=F64), torch.ones(5, dtype=F64))
    ).sum(-1)
    torch.testing.assert_close(got, want_torch, rtol=1e-12, atol=1e-14)
    assert bool(torch.all(got >= 0))
    zeros = torch.zeros(3, 4, dtype=F64)
    assert torch.equal(kl_std_normal(zeros, zeros), torch.zeros(3, dtype=F64))


@pytest.mark.parametrize(("mu", "s"), [(0.0, 1.0), (0.8, 0.5), (-1.5, 2.0)])
def test_lecture_intermediate_integrals(mu, s):
    """The two integrals of the lecture's derivation, checked by quadrature, then assembled."""

    def q(z):
        return stats.norm.pdf(z, mu, s)

    cross, _ = integrate.quad(lambda z: q(z) * stats.norm.logpdf(z), -np.inf, np.inf, epsabs=1e-12)
    neg_ent, _ = integrate.quad(
        lambda z: q(z) * stats.norm.logpdf(z, mu, s), -np.inf, np.inf, epsabs=1e-12
    )
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    assert cross == pytest.approx(-half_log_2pi - 0.5 * (mu**2 + s**2), rel=1e-9)
    assert neg_ent == pytest.approx(-half_log_2pi - 0.5 * (1 + math.log(s**2)), rel=1e-9)
    log_var = torch.tensor([[math.log(s**2)]], dtype=F64)
    got = kl_std_normal(torch.tensor([[mu]], dtype=F64), log_var)
    assert got.item() == pytest.approx(neg_ent - cross, rel=1e-8, abs=1e-12)


# ----------------------------------------------------------------------------- kl_monte_carlo


def _diag_normal(mean, var):
    d = Normal(torch.as_tensor(mean, dtype=F64), torch.as_tensor(var, dtype=F64).sqrt())
    return d, (lambda z: d.log_prob(z).sum(-1))


MU_Q, VAR_Q = [0.5, -0.3], [0.49, 1.5]
MU_P, VAR_P = [0.0, 0.0], [1.0, 1.0]


def _closed_form_kl():
    mq, vq, mp, vp = map(np.asarray, (MU_Q, VAR_Q, MU_P, VAR_P))
    return float(np.sum(0.5 * (np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1)))


def test_kl_monte_carlo_converges_to_closed_form():
    q, log_q = _diag_normal(MU_Q, VAR_Q)
    _, log_p = _diag_normal(MU_P, VAR_P)
    torch.manual_seed(5)
    z = q.sample((200_000,))
    est = kl_monte_carlo(log_q, log_p, z)
    assert est.shape == ()
    se = (log_q(z) - log_p(z)).std().item() / math.sqrt(z.shape[0])
    assert abs(est.item() - _closed_form_kl()) < 5 * se
    assert se < 0.01  # the tolerance is meaningful


def test_kl_monte_carlo_is_unbiased_over_repeats():
    q, log_q = _diag_normal(MU_Q, VAR_Q)
    _, log_p = _diag_normal(MU_P, VAR_P)
    torch.manual_seed(6)
    z = q.sample((400, 10))  # 400 independent estimates from 10 samples each
    ests = torch.stack([kl_monte_carlo(log_q, log_p, z[r]) for r in range(400)])
    se = ests.std().item() / math.sqrt(len(ests))
    assert abs(ests.mean().item() - _closed_form_kl()) < 5 * se
    # unbiased, not non-negative: some 10-sample estimates of this KL fall below 0
    assert bool(torch.any(ests < 0))


def test_kl_monte_carlo_single_sample_is_the_log_ratio():
    _, log_q = _diag_normal(MU_Q, VAR_Q)
    _, log_p = _diag_normal(MU_P, VAR_P)
    z = torch.tensor([[0.1, 0.2]], dtype=F64)
    want = sum(
        stats.norm.logpdf(z[0, j].item(), MU_Q[j], math.sqrt(VAR_Q[j]))
        - stats.norm.logpdf(z[0, j].item(), MU_P[j], math.sqrt(VAR_P[j]))
        for j in range(2)
    )
    assert kl_monte_carlo(log_q, log_p, z).item() == pytest.approx(want, rel=1e-12)


# ----------------------------------------------------------------------------- kl_on_grid


@pytest.mark.parametrize(("m1", "v1", "m2", "v2"), [(0.0, 1.0, 1.0, 2.0), (-1.0, 0.3, 0.5, 0.8)])
def test_kl_on_grid_matches_closed_form_gaussian(m1, v1, m2, v2):
    x = np.linspace(-15, 15, 6001)
    dx = x[1] - x[0]
    log_p = torch.tensor(stats.norm.logpdf(x, m1, math.sqrt(v1)))
    log_q = torch.tensor(stats.norm.logpdf(x, m2, math.sqrt(v2)))
    want = 0.5 * (math.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)
    got = kl_on_grid(log_p, log_q, dx)
    assert got.item() == pytest.approx(want, rel=1e-8)


def test_kl_on_grid_batched_and_handles_zero_density():
    x = np.linspace(-10, 10, 4001)
    dx = x[1] - x[0]
    lp = np.stack([stats.norm.logpdf(x, 0, 1), stats.norm.logpdf(x, 1, 1)])
    lq = stats.norm.logpdf(x, 0, 2)
    got = kl_on_grid(torch.tensor(lp), torch.tensor(lq).expand(2, -1), dx)
    want = [0.5 * (math.log(4) + (1 + m**2) / 4 - 1) for m in (0.0, 1.0)]
    assert got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8)
    # p = 0 (log p = -inf) at grid points where q is also 0 contributes 0, not NaN
    log_p = torch.tensor(lp[0]).clone()
    log_q = torch.tensor(lq).clone()
    log_p[:10] = -math.inf
    log_q[:10] = -math.inf
    assert torch.isfinite(kl_on_grid(log_p, log_q, dx))


# ----------------------------------------------------------------------------- kl_std_normal_mc


def test_kl_std_normal_mc_converges_to_the_closed_form_of_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=F64)
    log_var = torch.randn(5, 3, generator=g, dtype=F64)
    eps = torch.randn(200_000, 5, 3, generator=g, dtype=F64)
    est = kl_std_normal_mc(mu, log_var, eps)
    exact = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    assert est.shape == (5,)
    assert torch.allclose(est, exact, atol=0.03)


def test_kl_std_normal_mc_one_draw_is_the_log_ratio_of_torch_distributions():
    mu, log_var = torch.tensor([[0.3, -0.4]], dtype=F64), torch.tensor([[0.5, -1.2]], dtype=F64)
    eps = torch.tensor([[[1.5, -0.2]]], dtype=F64)
    q = Normal(mu, (0.5 * log_var).exp())
    z = mu + q.scale * eps[0]
    want = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    assert torch.allclose(kl_std_normal_mc(mu, log_var, eps), want, rtol=1e-12)


def test_kl_std_normal_mc_single_draws_can_be_negative_but_average_to_the_kl():
    mu, log_var = torch.tensor([[0.5, -1.0]], dtype=F64), torch.log(torch.tensor([[0.5, 2.0]], dtype=F64))
    eps = torch.randn(1, 50_000, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    single = kl_std_normal_mc(mu.expand(50_000, 2), log_var.expand(50_000, 2), eps)
    exact = float(kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum())
    assert (single < 0).any() and exact > 0
    assert float(single.mean()) == pytest.approx(exact, abs=4 * float(single.std()) / 50_000**0.5)


def test_kl_std_normal_mc_rejects_badly_shaped_draws():
    with pytest.raises(ValueError, match="eps must have shape"):
        kl_std_normal_mc(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3, dtype=F64), torch.zeros(4, 3, dtype=F64))
