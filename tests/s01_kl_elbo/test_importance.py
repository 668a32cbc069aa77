"""The importance-sampling examples of notebook 01, against torch.distributions and closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.data.mixtures import bimodal_target
from course_utils.s01_kl_elbo.elbo import importance_log_evidence
from course_utils.s01_kl_elbo.importance import (
    evidence_estimates,
    evidence_proposals,
    expected_log_estimate,
    linear_gaussian_example,
)


def test_bimodal_target_is_the_described_mixture():
    p = bimodal_target(4.0, 0.3, 0.5)
    assert torch.allclose(p.means[:, 0], torch.tensor([-2.0, 2.0], dtype=torch.float64))
    assert torch.allclose(p.weights, torch.tensor([0.3, 0.7], dtype=torch.float64))
    assert torch.allclose(p.variances, torch.tensor([0.25, 0.25], dtype=torch.float64))


def test_example_model_and_proposals():
    model, x = linear_gaussian_example(seed=0)
    assert (model.x_dim, model.z_dim) == (10, 2) and x.shape == (10,)
    again, x2 = linear_gaussian_example(seed=0)
    assert torch.equal(model.W, again.W) and torch.equal(x, x2)
    props = evidence_proposals(model, x)
    log_evidence = float(model.log_evidence(x))
    assert set(props) == {"prior", "q", "posterior"}
    assert props["posterior"].elbo == pytest.approx(log_evidence)
    assert props["prior"].elbo < props["q"].elbo < log_evidence
    z = props["q"].sample((7,), torch.Generator().manual_seed(0))
    expected = torch.distributions.MultivariateNormal(props["q"].mean, props["q"].cov).log_prob(z)
    assert torch.allclose(props["q"].log_prob(z), expected)


def test_evidence_estimates_use_the_posterior_exactly():
    model, x = linear_gaussian_example()
    props = evidence_proposals(model, x)
    g = torch.Generator().manual_seed(0)
    est = evidence_estimates(model, x, props["posterior"], K=4, n=5, generator=g)
    assert est.shape == (5,)
    assert torch.allclose(est, model.log_evidence(x).expand(5), atol=1e-9)


def test_vectorised_estimates_equal_one_estimate_per_batch():
    model, x = linear_gaussian_example()
    q = evidence_proposals(model, x)["q"]
    z = q.sample((6, 32), torch.Generator().manual_seed(3))
    est = evidence_estimates(model, x, q, K=32, n=6, generator=torch.Generator().manual_seed(3))
    one_by_one = torch.stack([importance_log_evidence(lambda zz: model.log_joint(x, zz), q.log_prob, zi) for zi in z])
    assert torch.allclose(est, one_by_one)


def test_naive_estimates_spread_more_than_importance_sampling():
    model, x = linear_gaussian_example()
    props = evidence_proposals(model, x)
    g = torch.Generator().manual_seed(0)
    naive = evidence_estimates(model, x, props["prior"], K=64, n=300, generator=g)
    good = evidence_estimates(model, x, props["q"], K=64, n=300, generator=g)
    assert naive.std() > 3 * good.std()
    # Jensen: on average both fall short of log p(x), the naive one by far more
    truth = model.log_evidence(x)
    assert naive.mean() < good.mean() < truth + 3 * good.std() / 300**0.5


def test_expected_log_estimate_matches_many_simulated_estimates():
    """The predicted mean of log p_hat (exercise 1.7) against simulation, with log p(x) and the KL
    from torch.distributions rather than the model's own formulas."""
    from torch.distributions import MultivariateNormal, kl_divergence

    model, x = linear_gaussian_example(seed=0)
    evidence = MultivariateNormal(model.b, model.W @ model.W.T + model.noise_var * torch.eye(model.x_dim))
    log_px = float(evidence.log_prob(x))
    props = evidence_proposals(model, x)
    post_mean, post_cov = model.posterior(x)
    g = torch.Generator().manual_seed(0)
    for key, K in [("q", 1), ("prior", 1), ("posterior", 1), ("posterior", 32)]:
        prop = props[key]
        kl = float(kl_divergence(MultivariateNormal(prop.mean, prop.cov), MultivariateNormal(post_mean, post_cov)))
        runs = evidence_estimates(model, x, prop, K=K, n=40_000, generator=g)
        se = float(runs.std()) / 40_000**0.5
        want = expected_log_estimate(log_px, 0.0 if key == "posterior" else kl, K)
        assert float(runs.mean()) == pytest.approx(want, abs=4 * se + 1e-9), key
    many = evidence_estimates(model, x, props["q"], K=4096, n=200, generator=g)
    assert float(many.mean()) == pytest.approx(expected_log_estimate(log_px, 0.3, math.inf), abs=0.005)


def test_expected_log_estimate_refuses_cases_without_a_closed_form():
    assert expected_log_estimate(-3.0, 0.5, 1) == -3.5
    assert expected_log_estimate(-3.0, 0.0, 17) == -3.0 == expected_log_estimate(-3.0, 2.0, math.inf)
    with pytest.raises(ValueError, match="no closed form"):
        expected_log_estimate(-3.0, 0.5, 4)
    with pytest.raises(ValueError, match="kl_to_posterior"):
        expected_log_estimate(-3.0, -0.5, 1)
