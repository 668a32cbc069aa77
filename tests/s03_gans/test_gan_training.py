"""gan_training: targets, the alternating trainer, mode coverage, a quick GAN run."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.s03_gans import gan_training as gt


def test_ring_of_gaussians_has_its_modes_on_the_circle():
    ring = gt.ring_of_gaussians(8, 2.0, 0.1)
    assert ring.means.shape == (8, 2)
    assert torch.allclose(ring.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    assert torch.allclose(ring.variances, torch.full((8,), 0.01, dtype=torch.float64))
    with pytest.raises(ValueError):
        gt.ring_of_gaussians(0)


def test_labelled_ring_and_samples():
    mixture, labels = gt.labelled_ring(4)
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    x, y = gt.sample_labelled(mixture, labels, 500, torch.Generator().manual_seed(0))
    assert x.shape == (500, 2) and x.dtype == torch.float32 and y.shape == (500,)
    nearest = torch.cdist(x.double(), mixture.means).argmin(1)
    assert torch.equal(labels[nearest], y)


def test_mode_coverage_counts_modes():
    ring = gt.ring_of_gaussians()
    g = torch.Generator().manual_seed(0)
    full = gt.mode_coverage(ring.sample(2000, g).float(), ring)
    assert full.covered == 8 and full.high_quality > 0.95 and int(full.counts.sum()) > 1900
    one = gt.mode_coverage(ring.means[:1].float() + 0.05 * torch.randn(300, 2, generator=g), ring)
    assert one.covered == 1
    assert gt.mode_coverage(torch.zeros(100, 2), ring).covered == 0


def test_trainer_alternates_and_records():
    torch.manual_seed(0)
    gen, disc = gt.mlp(2, 2, 16), gt.mlp(2, 1, 16)
    ring = gt.ring_of_gaussians()
    d_loss, g_loss = gt.gan_loss_fns(gen, disc, lambda n: ring.sample(n).float(), batch=32)
    trainer = gt.AdversarialTrainer([disc], [gen], d_loss, g_loss, d_steps=2)
    g_before = [p.clone() for p in gen.parameters()]
    trainer.step_d()
    assert all(torch.equal(a, b) for a, b in zip(g_before, gen.parameters(), strict=True))  # D step leaves g alone
    trainer.step(3)
    assert len(trainer.history["d"]) == 1 + 6 and len(trainer.history["g"]) == 3
    with pytest.raises(ValueError, match="lr_d"):
        gt.AdversarialTrainer([disc], [gen], d_loss, g_loss, lr_d=-1.0)
    with pytest.raises(ValueError, match="loss"):
        gt.gan_loss_fns(gen, disc, lambda n: ring.sample(n).float(), loss="hinge")


def test_a_short_run_is_seeded_and_moves_towards_the_ring():
    ring = gt.ring_of_gaussians()
    a = gt.train_gan_2d(ring, steps=150, snapshot_every=50, progress=False, width=32, batch=128)
    b = gt.train_gan_2d(ring, steps=150, snapshot_every=50, progress=False, width=32, batch=128)
    assert sorted(a.snapshots) == [0, 50, 100, 150]
    assert torch.equal(a.snapshots[150], b.snapshots[150])
    radius = a.sample(500).norm(dim=1).mean()
    assert 1.0 < float(radius) < 3.0
    assert a.sample(10).shape == (10, 2)


@pytest.mark.parametrize("loss", gt.LOSSES)
def test_every_loss_trains_without_error(loss):
    run = gt.train_gan_2d(gt.ring_of_gaussians(), loss, steps=20, progress=False, width=16, batch=32)
    assert len(run.trainer.history["d"]) == 20
    assert all(math.isfinite(v) for v in run.trainer.history["g"])


def test_max_seconds_stops_early():
    run = gt.train_gan_2d(gt.ring_of_gaussians(), steps=100_000, progress=False, width=16, batch=32,
                          max_seconds=0.5)
    assert len(run.trainer.history["g"]) < 100_000 and run.seconds < 2.0


def test_cgan_samples_per_label():
    mixture, labels = gt.labelled_ring()
    run = gt.train_cgan_2d(mixture, labels, steps=30, progress=False, width=16, batch=32)
    assert run.n_labels == 4
    assert run.sample(2, 7, seed=1).shape == (7, 2)
    assert not torch.equal(run.sample(0, 50), run.sample(1, 50))


def test_gan_step_matches_hand_computed_sgd_updates_and_moves_nothing_else():
    """Oracle: D's new weights from D's loss at the initial weights (fakes detached), g's from the non-saturating
    loss scored by the UPDATED D, each by hand as w - lr * grad; D does not move in g's step."""
    import copy

    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    D = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    x, z = torch.randn(10, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.2)
    loss_d, loss_g = gt.gan_step(G, D, opt_g, opt_d, x, z)

    d_params = list(D0.parameters())
    ld = -(torch.log(torch.sigmoid(D0(x))).mean() + torch.log(1 - torch.sigmoid(D0(G0(z).detach()))).mean())
    d_new = [p - 0.2 * gr for p, gr in zip(d_params, torch.autograd.grad(ld, d_params), strict=True)]
    for p, q in zip(D.parameters(), d_new, strict=True):
        torch.testing.assert_close(p.detach(), q.detach())
    D1 = copy.deepcopy(D)
    g_params = list(G0.parameters())
    lg = -torch.log(torch.sigmoid(D1(G0(z)))).mean()
    g_new = [p - 0.1 * gr for p, gr in zip(g_params, torch.autograd.grad(lg, g_params), strict=True)]
    for p, q in zip(G.parameters(), g_new, strict=True):
        torch.testing.assert_close(p.detach(), q.detach())
    assert loss_d == pytest.approx(float(ld.detach())) and loss_g == pytest.approx(float(lg.detach()))
    with torch.no_grad():
        assert loss_g == pytest.approx(float(F.softplus(-D1(G0(z))).mean()))

