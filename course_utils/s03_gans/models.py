"""Section 03's trained models: a GAN and a least-squares GAN on the ring of 8 Gaussians."""

from __future__ import annotations

from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.toy2d import ring_of_gaussians
from .gan_training import train_gan_2d

#: The settings the notebook's "good" run uses (the bench trains the same, within its time budget).
GOOD = {"steps": 1500, "lr": 2e-3, "batch": 256, "width": 64, "z_dim": 2, "seed": 0}


#: The least-squares GAN is less stable at lr 2e-3 on this target; 5e-4 did best of the rates tried.
LSGAN = {**GOOD, "lr": 5e-4}


def _trained(loss: str, seconds_budget: float) -> TrainedModel:
    target = ring_of_gaussians()
    settings = LSGAN if loss == "least_squares" else GOOD
    run = train_gan_2d(target, loss, progress=False, max_seconds=seconds_budget, **settings)
    return TrainedModel(run.sample(N_SAMPLE_SETS * N_SAMPLES, seed=7).double(), run.seconds,
                        target=lambda n: target.sample(n))


@course_model(name="gan_ring", section="03", kind="2d")
def gan_ring(seconds_budget: float) -> TrainedModel:
    """The non-saturating GAN of notebook 03 on the ring of 8 Gaussians."""
    return _trained("nonsaturating", seconds_budget)


@course_model(name="lsgan_ring", section="03", kind="2d")
def lsgan_ring(seconds_budget: float) -> TrainedModel:
    """The least-squares GAN (a = 0, b = c = 1) of notebook 03 on the ring of 8 Gaussians."""
    return _trained("least_squares", seconds_budget)
