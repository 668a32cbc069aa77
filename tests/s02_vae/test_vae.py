"""Tests of course_utils.s02_vae.vae against torch.distributions and closed forms."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from course_utils.data.digits import load_digits_split
from course_utils.s02_vae.vae import (
    VAE,
    bernoulli_log_likelihood,
    elbo_per_digit,
    gaussian_log_likelihood,
    negative_elbo_bernoulli,
    negative_elbo_gaussian,
    train_vae,
    train_vae_family,
)

F64 = torch.float64


def _case(seed=0, b=6, d=10, j=3):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=F64)
    return torch.rand(b, d, generator=g, dtype=F64), torch.sigmoid(r(b, d)), r(b, d) - 1, r(b, j), 0.5 * r(b, j)


def test_gaussian_log_likelihood_matches_normal_log_prob_with_the_corrected_sign_and_constant():
    x, mu, log_var, _, _ = _case()
    want = Normal(mu, torch.exp(0.5 * log_var)).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mu, log_var), want)
    # the ERRATA's pinned value: x = mu, sigma = 1, D = 64 -> -32 log(2 pi)
    zeros = torch.zeros(1, 64, dtype=F64)
    assert gaussian_log_likelihood(zeros, zeros, zeros).item() == pytest.approx(-32 * math.log(2 * math.pi))


def test_bernoulli_log_likelihood_matches_torch_bernoulli():
    x, _, _, _, _ = _case()
    logits = 3 * torch.randn(6, 10, dtype=F64)
    xb = (x > 0.5).to(F64)
    torch.testing.assert_close(bernoulli_log_likelihood(xb, logits), Bernoulli(logits=logits).log_prob(xb).sum(-1))
    grey = Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), grey)
    big = torch.tensor([[80.0, -80.0]], dtype=F64)
    assert torch.isfinite(bernoulli_log_likelihood(torch.tensor([[0.0, 1.0]], dtype=F64), big)).all()


def test_negative_elbos_are_nll_plus_kl():
    x, mu, log_var, mu_z, lv_z = _case(1)
    q = Independent(Normal(mu_z, torch.exp(0.5 * lv_z)), 1)
    p = Independent(Normal(torch.zeros_like(mu_z), torch.ones_like(mu_z)), 1)
    kl = kl_divergence(q, p)
    want = -Normal(mu, torch.exp(0.5 * log_var)).log_prob(x).sum(-1) + kl
    torch.testing.assert_close(negative_elbo_gaussian(x, mu, log_var, mu_z, lv_z), want)
    logits = torch.randn(6, 10, dtype=F64)
    want_b = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1) + kl
    torch.testing.assert_close(negative_elbo_bernoulli(x, logits, mu_z, lv_z), want_b)


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(likelihood="poisson")


def test_vae_terms_shapes_floor_and_gradients():
    m = VAE(latent_dim=3, hidden=16).double()
    x = torch.rand(5, 64, dtype=F64)
    t = m.terms(x, torch.randn(5, 3, dtype=F64))
    assert t.recon.shape == t.kl.shape == (5,)
    assert (t.kl >= 0).all()
    _, log_var = m.decode(torch.randn(5, 3, dtype=F64))
    assert (log_var >= m.min_log_var).all()
    t.negative_elbo(2.0).mean().backward()
    assert all(p.grad is not None for p in m.parameters())
    b = VAE(latent_dim=2, hidden=8, likelihood="bernoulli")
    assert b.sample(4).shape == (4, 64) and ((b.sample(4) >= 0) & (b.sample(4) <= 1)).all()


def test_a_short_training_lowers_the_loss_and_the_family_matches_its_betas():
    x = load_digits_split().x_train[:256]
    run = train_vae(x, latent_dim=2, hidden=32, steps=60, progress=False)
    assert len(run.recon) == len(run.kl) == 60
    assert (run.recon + run.kl)[-10:].mean() < (run.recon + run.kl)[:10].mean()
    assert elbo_per_digit(run.model, x[:10], n_samples=2).shape == (10,)
    fam = train_vae_family(x, betas=(0.5, 4.0), steps=40, progress=False)
    assert [r.beta for r in fam] == [0.5, 4.0] and len(fam[0].kl) == 40
    assert fam[1].kl[-10:].mean() < fam[0].kl[-10:].mean()  # a larger beta pays less KL


def test_family_member_trains_exactly_as_it_would_alone():
    x = load_digits_split().x_train[:128].double()
    (fam,) = train_vae_family(x, betas=(1.0,), steps=15, hidden=16, batch_size=128, progress=False)
    alone = train_vae(x, latent_dim=2, hidden=16, steps=15, batch_size=128, lr=1e-2, progress=False)
    torch.testing.assert_close(fam.recon.double(), alone.recon.double(), rtol=1e-5, atol=1e-5)


def test_latent_usage_sums_to_the_kl_and_matches_torch_distributions():
    from course_utils.s02_vae.vae import latent_usage

    model = VAE(latent_dim=3, hidden=16, seed=2).double()
    x = load_digits_split().x_test[:50].double()
    use = latent_usage(model, x)
    mu, log_var = model.encode(x)
    kl = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(use.kl, kl.mean(0).detach())
    torch.testing.assert_close(use.spread, mu.detach().var(0))
    torch.testing.assert_close(use.noise, log_var.detach().exp().mean(0))
    assert use.active(threshold=0.0).all() and not use.active(threshold=1e9).any()


def test_sgd_with_vae_step_lowers_the_loss():
    from course_utils.s02_vae.vae import sgd_with_vae_step

    losses = sgd_with_vae_step(load_digits_split().x_train, steps=20, seed=1)
    assert losses.shape == (20,) and losses[-5:].mean() < losses[:3].mean() - 5
