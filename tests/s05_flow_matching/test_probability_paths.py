"""probability_paths against autograd, torch.distributions, Monte Carlo and the ODE it defines."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from course_utils.core import ode
from course_utils.data.mixtures import GaussianMixture
from course_utils.s05_flow_matching import probability_paths

GEN = torch.Generator().manual_seed(0)
NAMES = list(probability_paths.GAUSSIAN_PATHS)


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


@pytest.mark.parametrize("name", NAMES)
def test_scheduler_boundaries_and_derivatives_against_autograd(name):
    s = probability_paths.gaussian_path(name)
    zero, one = torch.tensor(0.0), torch.tensor(1.0)
    assert float(s.alpha(zero)) == 0 and float(s.beta(one)) == pytest.approx(0, abs=1e-15)
    assert float(s.alpha(one)) == 1 and float(s.beta(zero)) == 1
    t = torch.linspace(0.01, 0.99, 25, requires_grad=True)
    for f, df in ((s.alpha, s.d_alpha), (s.beta, s.d_beta)):
        (grad,) = torch.autograd.grad(f(t).sum(), t)
        assert torch.allclose(grad, df(t.detach()), atol=1e-12)


def test_linear_target_velocity_is_x1_minus_x0():
    x1, eps = torch.randn(50, 2, generator=GEN), torch.randn(50, 2, generator=GEN)
    t = torch.rand(50, generator=GEN)
    ps = probability_paths.sample_path(x1, t, eps, "linear")
    assert torch.allclose(ps.x_t, t[:, None] * x1 + (1 - t[:, None]) * eps)
    assert torch.allclose(ps.dx_t, x1 - eps)


@pytest.mark.parametrize("name", NAMES)
def test_target_velocity_is_the_time_derivative_of_x_t(name):
    x1, eps = torch.randn(20, 3, generator=GEN), torch.randn(20, 3, generator=GEN)
    t, h = torch.rand(20, generator=GEN) * 0.9 + 0.05, 1e-6
    x_t = lambda t: probability_paths.sample_path(x1, t, eps, name).x_t  # noqa: E731
    fd = (x_t(t + h) - x_t(t - h)) / (2 * h)
    assert torch.allclose(probability_paths.sample_path(x1, t, eps, name).dx_t, fd, atol=1e-7)
    # ... and the conditional velocity field evaluated on the path gives the same vector
    ps = probability_paths.sample_path(x1, t, eps, name)
    assert torch.allclose(probability_paths.conditional_velocity(ps.x_t, x1, t, name), ps.dx_t, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_conditional_path_mean_and_variance(name):
    z, t = torch.tensor([[1.5, -2.0]]), 0.3
    eps = torch.randn(200_000, 2, generator=GEN)
    x = probability_paths.sample_path(z.expand(200_000, 2), t, eps, name).x_t
    s = probability_paths.gaussian_path(name)
    a, b = float(s.alpha(torch.tensor(t))), float(s.beta(torch.tensor(t)))
    assert torch.allclose(x.mean(0), a * z[0], atol=0.01)
    assert torch.allclose(x.var(0), torch.full((2,), b**2), rtol=0.01)


@pytest.mark.parametrize("name", NAMES)
def test_conditional_score_against_autograd_of_the_normal_log_density(name):
    z, t = torch.randn(30, 2, generator=GEN), 0.6
    x = torch.randn(30, 2, generator=GEN).requires_grad_(True)
    s = probability_paths.gaussian_path(name)
    a, b = s.alpha(torch.tensor(t)), s.beta(torch.tensor(t))
    (grad,) = torch.autograd.grad(Normal(a * z, b).log_prob(x).sum(), x)
    assert torch.allclose(probability_paths.conditional_score(x.detach(), z, t, name), grad)


def _torch_mixture(points, t, s, var=0.0):
    a, b = s.alpha(torch.tensor(t)), s.beta(torch.tensor(t))
    scale = torch.sqrt(a**2 * var + b**2).expand_as(points)
    return MixtureSameFamily(Categorical(torch.ones(len(points))), Independent(Normal(a * points, scale), 1))


@pytest.mark.parametrize("name", NAMES)
def test_marginal_score_of_a_point_set_against_autograd(name):
    points, t, s = torch.randn(5, 2, generator=GEN), 0.7, probability_paths.gaussian_path(name)
    x = torch.randn(40, 2, generator=GEN).requires_grad_(True)
    (grad,) = torch.autograd.grad(_torch_mixture(points, t, s).log_prob(x).sum(), x)
    assert torch.allclose(probability_paths.marginal_score(x.detach(), t, points, name), grad, atol=1e-9)
    # and the marginal velocity is the score converted, as for any Gaussian path
    v = probability_paths.marginal_velocity(x.detach(), t, points, name)
    assert torch.allclose(v, probability_paths.score_to_velocity(grad, x.detach(), t, name), atol=1e-9)


def test_marginal_velocity_of_one_point_is_its_conditional_velocity():
    z, x = torch.tensor([[0.5, 1.0]]), torch.randn(10, 2, generator=GEN)
    assert torch.allclose(probability_paths.marginal_velocity(x, 0.4, z),
                          probability_paths.conditional_velocity(x, z, 0.4))


@pytest.mark.parametrize("name", NAMES)
def test_the_marginal_field_transports_noise_onto_the_target_points(name):
    points = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -1.5]])
    x0 = torch.randn(300, 2, generator=GEN)

    def v(x, t):
        return probability_paths.marginal_velocity(x, t.clamp(max=1 - 1e-4), points, name)

    x1 = ode.integrate(v, x0, 0.0, 1.0 - 1e-4, n_steps=400, method="rk4")
    nearest = torch.cdist(x1, points).min(dim=1).values
    assert float(nearest.max()) < 1e-2
    counts = torch.cdist(x1, points).argmin(dim=1).bincount(minlength=3)
    assert bool((counts > 60).all())


@pytest.mark.parametrize("name", NAMES)
def test_marginal_mixture_against_monte_carlo_and_its_velocity(name):
    mix = GaussianMixture(torch.tensor([0.3, 0.7]), torch.tensor([[-1.0, 0.5], [2.0, -1.0]]), torch.tensor([0.2, 0.05]))
    t = 0.55
    n = 200_000
    eps = torch.randn(n, 2, generator=GEN)
    x_t = probability_paths.sample_path(mix.sample(n, generator=GEN), t, eps, name).x_t
    pt = probability_paths.marginal_mixture(mix, t, name)
    assert torch.allclose(x_t.mean(0), pt.mean(), atol=0.01)
    assert torch.allclose(torch.cov(x_t.T), pt.covariance(), atol=0.02)
    # its score against torch.distributions, and the velocity built on it
    x = torch.randn(20, 2, generator=GEN).requires_grad_(True)
    scales = pt.variances.sqrt()[:, None].expand(2, 2)
    tm = MixtureSameFamily(Categorical(mix.weights), Independent(Normal(pt.means, scales), 1))
    (grad,) = torch.autograd.grad(tm.log_prob(x).sum(), x)
    v = probability_paths.mixture_velocity(x.detach(), t, mix, name)
    assert torch.allclose(v, probability_paths.score_to_velocity(grad, x.detach(), t, name), atol=1e-9)
    # with tiny variances the mixture's velocity is the point set's
    tiny = GaussianMixture(mix.weights, mix.means, torch.full((2,), 1e-12))
    assert torch.allclose(probability_paths.mixture_velocity(x.detach(), t, tiny, name),
                          probability_paths.marginal_velocity(x.detach(), t, mix.means, name, weights=mix.weights),
                          atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_score_velocity_conversion_on_the_conditional_path_and_round_trip(name):
    z, x = torch.randn(25, 2, generator=GEN), torch.randn(25, 2, generator=GEN)
    t = torch.rand(25, generator=GEN) * 0.9 + 0.05
    score = probability_paths.conditional_score(x, z, t, name)
    assert torch.allclose(probability_paths.score_to_velocity(score, x, t, name),
                          probability_paths.conditional_velocity(x, z, t, name))
    v = probability_paths.conditional_velocity(x, z, t, name)
    assert torch.allclose(probability_paths.velocity_to_score(v, x, t, name), score, atol=1e-9)


def test_linear_conversion_in_closed_form():
    # alpha = t, beta = 1 - t: u = x / t + (1 - t) / t * score
    x, s, t = torch.randn(5, 2, generator=GEN), torch.randn(5, 2, generator=GEN), 0.25
    assert torch.allclose(probability_paths.score_to_velocity(s, x, t), x / t + (1 - t) / t * s)


def test_bad_input_says_what_was_expected():
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        probability_paths.sample_path(x, 1.5, x)
    with pytest.raises(ValueError, match="same shape"):
        probability_paths.sample_path(x, 0.5, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="t must be a number or have shape"):
        probability_paths.sample_path(x, torch.rand(3), x)
    with pytest.raises(ValueError, match="unknown scheduler"):
        probability_paths.sample_path(x, 0.5, x, "sigmoid")
    with pytest.raises(ValueError, match="t > 0"):
        probability_paths.score_to_velocity(x, x, 0.0)
    with pytest.raises(ValueError, match=r"shape \(m, 2\)"):
        probability_paths.marginal_velocity(x, 0.5, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="z must have shape"):
        probability_paths.conditional_velocity(x, torch.zeros(3, 2), 0.5)


def test_cosine_is_variance_preserving():
    t = torch.linspace(0, 1, 11)
    s = probability_paths.CosinePath()
    assert torch.allclose(s.alpha(t) ** 2 + s.beta(t) ** 2, torch.ones(11))
    assert math.isclose(float(s.alpha(torch.tensor(0.5))), math.sqrt(0.5))
