"""wgan: the critic's loss, clipping, the gradient penalty (against closed forms and autograd
written here), critics that estimate a known W1, and the WGAN trainer's Algorithm 1 details."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils.core.nets import mlp
from course_utils.data.toy2d import ring_of_gaussians
from course_utils.s04_wasserstein import transport, wgan


class Quadratic(nn.Module):
    """f(x) = a/2 |x|^2: its gradient a x is known in closed form."""

    def __init__(self, a: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.a * (x**2).sum(1, keepdim=True)


def batch(seed: int, m: int = 16):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, 2, generator=g, dtype=torch.float64) + 2.0,
            torch.randn(m, 2, generator=g, dtype=torch.float64),
            torch.rand(m, 1, generator=g, dtype=torch.float64))


def test_the_critic_loss_is_minus_the_kr_objective_with_expectations():
    real, fake = torch.tensor([1.0, -3.0, 2.0]), torch.tensor([-1.0, 4.0])
    assert float(wgan.kr_objective(real, fake)) == pytest.approx(0.0 - 1.5)
    assert float(wgan.critic_loss(real, fake)) == pytest.approx(1.5)
    # (m, 1) scores, as a critic network returns them
    assert float(wgan.critic_loss(real[:, None], fake[:, None])) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="one critic score per point"):
        wgan.critic_loss(torch.ones(3, 2), fake)


def test_clip_weights_clamps_every_parameter_in_place_and_leaves_gradients_alone():
    torch.manual_seed(0)
    critic = mlp(2, 1, 8, 2)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(10)
    critic(torch.ones(4, 2)).sum().backward()
    grads = [p.grad.clone() for p in critic.parameters()]
    before = [p.detach().clone() for p in critic.parameters()]
    out = wgan.clip_weights(critic, 0.05)
    assert [o is p for o, p in zip(out, critic.parameters(), strict=True)] == [True] * len(before)
    for p, b, g in zip(critic.parameters(), before, grads, strict=True):
        assert torch.equal(p.detach(), b.clamp(-0.05, 0.05))
        assert torch.equal(p.grad, g)
    assert all(p.requires_grad for p in critic.parameters())
    with pytest.raises(ValueError, match="c must be > 0"):
        wgan.clip_weights(critic, 0.0)


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    lin = nn.Linear(2, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.5, -2.0]], dtype=torch.float64))
    x_real, x_fake, eps = batch(1)
    gp = wgan.gradient_penalty(lin, x_real, x_fake, eps)
    assert float(gp.detach()) == pytest.approx((2.5 - 1.0) ** 2)
    # d GP / d w = 2 (|w| - 1) w / |w|, by hand
    (grad_w, grad_b) = torch.autograd.grad(gp, [lin.weight, lin.bias], allow_unused=True)
    w = lin.weight.detach()
    assert torch.allclose(grad_w, 2 * (w.norm() - 1) * w / w.norm())
    assert grad_b is None or float(grad_b.abs().max()) == 0.0


@pytest.mark.parametrize("a", [0.3, 1.0, 2.0])
def test_gradient_penalty_at_the_interpolates_of_a_quadratic_critic(a):
    x_real, x_fake, eps = batch(2)
    x_hat = eps * x_real + (1 - eps) * x_fake
    expected = ((a * x_hat.norm(dim=1) - 1) ** 2).mean()
    critic = Quadratic(a)
    gp = wgan.gradient_penalty(critic, x_real, x_fake, eps)
    assert float(gp.detach()) == pytest.approx(float(expected), rel=1e-10)
    # the penalty trains the critic (create_graph): d/da of mean (a r - 1)^2 = mean 2 (a r - 1) r
    (d_a,) = torch.autograd.grad(gp, critic.a)
    r = x_hat.norm(dim=1)
    assert float(d_a) == pytest.approx(float((2 * (a * r - 1) * r).mean()), rel=1e-10)
    # eps may come as (m,)
    assert float(wgan.gradient_penalty(critic, x_real, x_fake, eps[:, 0]).detach()) == pytest.approx(float(gp.detach()))


def test_gradient_penalty_refuses_mismatched_batches():
    x_real, x_fake, eps = batch(3)
    with pytest.raises(ValueError, match="same shape"):
        wgan.gradient_penalty(Quadratic(1.0), x_real, x_fake[:5], eps)
    with pytest.raises(ValueError, match="one weight per pair"):
        wgan.gradient_penalty(Quadratic(1.0), x_real, x_fake, eps[:5])


def test_lipschitz_estimate_of_a_linear_critic_is_its_weight_norm():
    lin = nn.Linear(2, 1).double()
    assert wgan.lipschitz_estimate(lin, torch.randn(10, 2, dtype=torch.float64)) == pytest.approx(
        float(lin.weight.detach().norm()))


def _translated_clouds(n: int = 200, shift=(1.5, 0.0)):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x + torch.tensor(shift, dtype=torch.float64), x


def test_a_translation_has_w1_equal_to_its_length():
    x, y = _translated_clouds()
    assert transport.w1_point_clouds(x, y) == pytest.approx(1.5, rel=1e-9)


def test_a_gradient_penalty_critic_estimates_a_known_w1():
    x, y = _translated_clouds()
    fit = wgan.train_critic(x, y, "gp", steps=300, progress=False)
    assert fit.estimate == pytest.approx(1.5, rel=0.1)
    assert fit.lipschitz == pytest.approx(1.0, abs=0.3)
    assert len(fit.objective) == 300


def test_a_clipped_critic_is_far_from_1_lipschitz_but_its_rescaled_estimate_is_close():
    x, y = _translated_clouds()
    grid = torch.stack(torch.meshgrid(torch.linspace(-3, 4, 8), torch.linspace(-3, 3, 8), indexing="xy"),
                       -1).reshape(-1, 2)
    fit = wgan.train_critic(x, y, "clip", steps=300, progress=False, grid=grid, snapshot_every=100)
    assert fit.lipschitz < 0.05 and 0 < fit.estimate < 0.05  # K << 1 with c = 0.01: the raw gap is tiny
    assert 0.5 * 1.5 < fit.rescaled < 1.1 * 1.5  # divided by its slope, the right order of magnitude
    assert all(float(p.detach().abs().max()) <= wgan.ALGORITHM_1["c"] + 1e-12 for p in fit.critic.parameters())
    assert sorted(fit.snapshots) == [0, 100, 200, 300] and fit.snapshots[300].shape == (8, 8)
    assert set(fit.snapshot_estimates) == set(fit.snapshots) == set(fit.snapshot_lipschitz)


def test_algorithm_1_defaults():
    assert wgan.ALGORITHM_1 == {"lr": 5e-5, "c": 0.01, "batch": 64, "n_critic": 5}
    assert wgan.GP["lam"] == 10.0 and wgan.GP["n_critic"] == 5


def test_the_clipped_wgan_uses_rmsprop_clips_after_each_critic_step_and_tracks_w1():
    run = wgan.train_wgan_2d(ring_of_gaussians(), "clip", steps=6, snapshot_every=3, track_every=3, n_track=50,
                             progress=False)
    trainer = run.trainer
    assert isinstance(trainer.opt_d, torch.optim.RMSprop) and isinstance(trainer.opt_g, torch.optim.RMSprop)
    assert trainer.opt_d.param_groups[0]["lr"] == 5e-5 and trainer.d_steps == 5
    assert all(float(p.detach().abs().max()) <= 0.01 for p in run.discriminator.parameters())
    assert len(trainer.history["d"]) == 30 and len(run.estimates) == 30
    assert sorted(run.exact_w1) == [0, 3, 6] and sorted(run.snapshots) == [0, 3, 6]
    assert all(v > 0 for v in run.exact_w1.values())
    assert run.sample(10).shape == (10, 2)


def test_the_gp_wgan_is_seeded_and_decays_at_the_end():
    kwargs = {"steps": 40, "batch": 32, "progress": False, "decay_last": 0.5, "track_every": 10, "n_track": 30}
    a = wgan.train_wgan_2d(ring_of_gaussians(), "gp", **kwargs)
    b = wgan.train_wgan_2d(ring_of_gaussians(), "gp", **kwargs)
    assert torch.equal(a.sample(20), b.sample(20))
    assert isinstance(a.trainer.opt_d, torch.optim.Adam) and a.trainer.clip is None
    assert a.trainer.opt_d.param_groups[0]["lr"] <= 1e-3 / 2 + 1e-12  # decayed over the last 20 steps
    assert sorted(a.exact_w1) == [0, 10, 20, 30, 40]
    with pytest.raises(ValueError, match="method"):
        wgan.train_wgan_2d(ring_of_gaussians(), "spectral", steps=1)
    with pytest.raises(ValueError, match="decay_last"):
        wgan.train_wgan_2d(ring_of_gaussians(), "gp", steps=1, decay_last=2.0)
    assert math.isfinite(float(a.estimates.mean()))



def _tiny_critic(seed):
    torch.manual_seed(seed)
    return mlp(2, 1, 8, 2).double()


def test_critic_steps_match_hand_written_sgd_with_clipping_after_each_step():
    """Oracle: parameters moved by -lr * (autograd gradient of mean f(fake) - mean f(real)), then clamped."""
    g = torch.Generator().manual_seed(0)
    x_real = torch.randn(3, 10, 2, generator=g, dtype=torch.float64) + 1.0
    x_fake = torch.randn(3, 7, 2, generator=g, dtype=torch.float64) - 1.0
    critic, lr, c = _tiny_critic(1), 0.2, 0.25
    expected = [p.detach().clone() for p in critic.parameters()]
    manual_losses = []
    for real, fake in zip(x_real, x_fake, strict=True):
        params = [p.clone().requires_grad_(True) for p in expected]
        out = lambda x, ps=params: torch.func.functional_call(  # noqa: E731
            critic, dict(zip([n for n, _ in critic.named_parameters()], ps, strict=True)), (x,))
        loss = out(fake).mean() - out(real).mean()
        grads = torch.autograd.grad(loss, params)
        expected = [(p - lr * gr).clamp(-c, c).detach() for p, gr in zip(params, grads, strict=True)]
        manual_losses.append(float(loss.detach()))
    losses = wgan.critic_steps(critic, torch.optim.SGD(critic.parameters(), lr=lr), x_real, x_fake, c)
    for p, e in zip(critic.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e)
    torch.testing.assert_close(losses, torch.tensor(manual_losses, dtype=torch.float64))
    assert max(float(p.detach().abs().max()) for p in critic.parameters()) <= c
    with pytest.raises(ValueError, match="n_critic"):
        wgan.critic_steps(critic, torch.optim.SGD(critic.parameters(), lr=lr), x_real[0], x_fake[0], c)


def test_generator_grad_matches_finite_differences_of_the_generator_loss():
    critic = _tiny_critic(2)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grad = wgan.generator_grad(critic, x)

    def loss(points):
        with torch.no_grad():
            return float(-critic(points).mean())

    h = 1e-6
    numeric = torch.zeros_like(x)
    for i in range(5):
        for j in range(2):
            step = torch.zeros_like(x)
            step[i, j] = h
            numeric[i, j] = (loss(x + step) - loss(x - step)) / (2 * h)
    torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-8)
    linear = nn.Linear(3, 1).double()
    x3 = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(wgan.generator_grad(linear, x3), -linear.weight.detach().expand(4, 3) / 4)


def test_off_mode_mask_counts_what_lies_beyond_k_standard_deviations():
    ring = ring_of_gaussians()
    std = float(ring.variances[0].sqrt())
    on = ring.means + 2.9 * std * torch.tensor([1.0, 0.0], dtype=torch.float64)
    between = (ring.means[0] + ring.means[1]) / 2
    assert not wgan.off_mode_mask(on, ring).any()
    assert bool(wgan.off_mode_mask(between[None], ring).all())
    samples = ring.sample(40_000, torch.Generator().manual_seed(0))
    assert float(wgan.off_mode_mask(samples, ring).double().mean()) == pytest.approx(math.exp(-4.5), abs=3e-3)
