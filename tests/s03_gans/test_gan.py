"""gan against closed forms, SciPy and torch's own binary cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm

from course_utils.s03_gans import gan

GRID = torch.linspace(-10.0, 10.0, 4001, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])


def normal(mean, std):
    return torch.from_numpy(norm.pdf(GRID.numpy(), mean, std))


def test_optimal_discriminator_closed_form_and_equilibrium():
    p, q = normal(0.0, 1.0), normal(1.0, 2.0)
    d = gan.optimal_discriminator(p, q)
    assert torch.allclose(d, p / (p + q))
    assert torch.allclose(gan.optimal_discriminator(p, p), torch.full_like(p, 0.5))
    assert float(gan.optimal_discriminator(torch.zeros(1), torch.zeros(1))) == 0.5


def test_optimal_discriminator_maximises_the_value():
    p, q = normal(-1.0, 0.7), normal(1.5, 1.0)
    best = gan.value_on_grid(gan.optimal_discriminator(p, q), p, q, DX)
    for other in (torch.full_like(p, 0.5), torch.sigmoid(GRID), gan.optimal_discriminator(p, q) ** 1.1):
        assert gan.value_on_grid(other, p, q, DX) < best
    assert float(best) == pytest.approx(float(gan.optimal_value_on_grid(p, q, DX)), abs=1e-9)


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (2.0, 0.5), (-3.0, 1.5), (0.3, 1.1)])
def test_c_of_g_is_minus_log_4_plus_twice_the_scipy_jsd(mean, std):
    p, q = normal(0.0, 1.0), normal(mean, std)
    jsd_scipy = jensenshannon((p * DX).numpy(), (q * DX).numpy(), base=math.e) ** 2
    assert float(gan.jsd_on_grid(p, q, DX)) == pytest.approx(jsd_scipy, abs=1e-6)
    assert float(gan.optimal_value_on_grid(p, q, DX)) == pytest.approx(-math.log(4) + 2 * jsd_scipy, abs=1e-6)


def test_at_equilibrium_c_is_minus_log_4():
    p = normal(0.5, 1.3)
    assert float(gan.optimal_value_on_grid(p, p, DX)) == pytest.approx(-math.log(4), abs=1e-6)
    assert float(gan.jsd_on_grid(p, p, DX)) == pytest.approx(0.0, abs=1e-9)
    assert gan.LOG_4 == pytest.approx(math.log(4))


def test_c_of_g_stays_finite_where_d_star_rounds_to_1():
    """The notebook's N(-3, 0.36) against its data mixture: 1 - D* rounds to 0 in the tails (exercise 3.2's
    announced case), and C(g) must not become -inf there."""
    grid = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    pdf = lambda mean, std: torch.from_numpy(norm.pdf(grid.numpy(), mean, std))  # noqa: E731
    p, q = 0.4 * pdf(-1.5, 0.5) + 0.6 * pdf(1.5, 0.7), pdf(-3.0, 0.6)
    assert bool((1 - gan.optimal_discriminator(p, q) == 0).any())
    jsd_scipy = jensenshannon((p * dx).numpy(), (q * dx).numpy(), base=math.e) ** 2
    assert float(gan.optimal_value_on_grid(p, q, dx)) == pytest.approx(-math.log(4) + 2 * jsd_scipy, abs=1e-6)
    assert float(gan.optimal_value_on_grid(p, q, dx)) == pytest.approx(-0.2671, abs=1e-4)


def test_disjoint_supports_give_jsd_log_2_and_c_zero():
    p, q = normal(-6.0, 0.3), normal(6.0, 0.3)
    assert float(gan.jsd_on_grid(p, q, DX)) == pytest.approx(math.log(2), abs=1e-6)
    assert float(gan.optimal_value_on_grid(p, q, DX)) == pytest.approx(0.0, abs=1e-5)


def test_discriminator_loss_is_torch_bce_with_logits():
    g = torch.Generator().manual_seed(0)
    real, fake = 3 * torch.randn(50, generator=g), 3 * torch.randn(30, generator=g)
    expected = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    assert torch.allclose(gan.discriminator_loss(real, fake), expected)
    big = torch.tensor([60.0, -60.0])  # stable at extreme logits
    assert torch.isfinite(gan.discriminator_loss(-big, big))


def test_generator_losses_and_their_gradients():
    logits = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
    d = torch.sigmoid(logits)
    ns = gan.generator_loss(logits, "nonsaturating")
    assert torch.allclose(ns, F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    mm = gan.generator_loss(logits, "minimax")
    assert torch.allclose(mm, torch.log(1 - d).mean())
    for kind, loss in (("nonsaturating", ns), ("minimax", mm)):
        (grad,) = torch.autograd.grad(loss * len(logits), logits)
        assert torch.allclose(grad, gan.generator_logit_gradient(d.detach(), kind))
    with pytest.raises(ValueError, match="kind"):
        gan.generator_loss(logits, "wasserstein")
    with pytest.raises(ValueError, match="0, 1"):
        gan.generator_logit_gradient(torch.tensor([1.5]))


def test_lsgan_losses_the_slide_form():
    d_real, d_fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.2, 0.4])
    out = gan.lsgan_losses(d_real, d_fake, a=0.0, b=1.0, c=1.0)
    assert float(out.discriminator) == pytest.approx((0 + 0.25) / 2 + (0 + 0.04 + 0.16) / 3)
    assert float(out.generator) == pytest.approx((1 + 0.64 + 0.36) / 3)
    loss_d, loss_g = out  # a tuple
    assert loss_d is out.discriminator


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="same shape"):
        gan.optimal_discriminator(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match=">= 0"):
        gan.optimal_discriminator(-torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="dx"):
        gan.jsd_on_grid(torch.ones(3), torch.ones(3), 0.0)
    with pytest.raises(ValueError, match="batch of logits"):
        gan.discriminator_loss(torch.tensor(1.0), torch.ones(3))


def test_jsd_discrete_matches_scipy_and_its_bounds():
    from scipy.spatial.distance import jensenshannon

    g = torch.Generator().manual_seed(5)
    p = torch.distributions.Dirichlet(torch.ones(7)).sample((20,))
    q = torch.softmax(torch.randn(20, 7, generator=g), -1)
    p, q = p.double(), q.double()
    expected = torch.as_tensor(jensenshannon(p.numpy(), q.numpy(), base=math.e, axis=-1) ** 2)
    assert torch.allclose(gan.jsd_discrete(p, q), expected, atol=1e-10)
    assert torch.allclose(gan.jsd_discrete(p, q), gan.jsd_discrete(q, p))
    assert torch.allclose(gan.jsd_discrete(p, p), torch.zeros(20, dtype=torch.float64))
    one, other = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    disjoint = gan.jsd_discrete(one, other)
    assert math.isclose(float(disjoint), math.log(2), rel_tol=1e-12)


def test_jsd_discrete_refuses_what_is_not_a_distribution():
    with pytest.raises(ValueError, match="sum to 1"):
        gan.jsd_discrete(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="same shape"):
        gan.jsd_discrete(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5]))


# --- the density-ratio view, the shifted uniforms, Pix2Pix ------------------------------------------


def test_reweighted_mean_turns_generator_samples_into_data_expectations():
    """With the optimal discriminator's logits log p_X - log p_theta, self-normalised importance sampling
    recovers N(1, 0.25)'s mean and second moment from samples of N(0, 1) (closed forms: 1 and 1.25)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=gen, dtype=torch.float64)
    data, model = torch.distributions.Normal(1.0, 0.5), torch.distributions.Normal(0.0, 1.0)
    logits = data.log_prob(x) - model.log_prob(x)
    d_star = torch.sigmoid(logits)  # D* = p_X / (p_X + p_theta), whose odds are the density ratio
    assert torch.allclose(d_star / (1 - d_star), torch.exp(logits))
    est = gan.reweighted_mean(logits, torch.stack([x, x**2], 1))
    assert est.tolist() == pytest.approx([1.0, 1.25], abs=0.01)


def test_reweighted_mean_against_scipy_logsumexp_and_for_huge_logits():
    from scipy.special import logsumexp

    gen = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(50, generator=gen, dtype=torch.float64)
    values = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    w = torch.from_numpy(logits.numpy() - logsumexp(logits.numpy()))  # log of the normalised odds
    assert torch.allclose(gan.reweighted_mean(logits, values), torch.exp(w) @ values)
    shifted = gan.reweighted_mean((logits + 500).float(), values.float())  # exp(500) overflows even in float64
    assert torch.allclose(shifted.double(), torch.exp(w) @ values, atol=1e-5)
    assert gan.reweighted_mean(logits, values[:, 0]).shape == ()
    with pytest.raises(ValueError, match="shape"):
        gan.reweighted_mean(logits, values[:10])


@pytest.mark.parametrize("shift", [0.0, 0.3, 0.8, 1.0, 2.5, -0.4])
def test_shifted_uniforms_value_is_the_quadrature_and_minus_log4_plus_2_jsd(shift):
    grid = torch.linspace(-2.0, 5.0, 700_001, dtype=torch.float64)[:-1] + 0.5e-5  # cell midpoints, dx = 1e-5
    p_x = ((grid >= 0) & (grid < 1)).double()
    p_t = ((grid >= shift) & (grid < shift + 1)).double()
    expected = float(gan.optimal_value_on_grid(p_x, p_t, 1e-5))
    assert gan.shifted_uniforms_value(shift) == pytest.approx(expected, abs=1e-4)
    js = jensenshannon(p_x.numpy(), p_t.numpy(), base=math.e) ** 2
    assert gan.shifted_uniforms_value(shift) == pytest.approx(-math.log(4) + 2 * js, abs=1e-4)
    with pytest.raises(ValueError):
        gan.shifted_uniforms_value(math.nan)


def test_pix2pix_generator_loss_against_torchs_bce_and_l1():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(5, generator=gen, dtype=torch.float64)
    fake, target = torch.randn(2, 5, 3, 4, 4, generator=gen, dtype=torch.float64)
    expected = (F.binary_cross_entropy_with_logits(logits, torch.ones(5, dtype=torch.float64))
                + 0.7 * F.l1_loss(fake, target, reduction="sum") / 5)
    assert torch.allclose(gan.pix2pix_generator_loss(logits, fake, target, 0.7), expected)
    assert torch.allclose(gan.pix2pix_generator_loss(logits, fake, fake, 3.0), -F.logsigmoid(logits).mean())
    with pytest.raises(ValueError):
        gan.pix2pix_generator_loss(logits, fake, target[:, :2], 1.0)
