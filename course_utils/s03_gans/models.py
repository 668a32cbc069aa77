"""Section 03's trained models: a GAN and a least-squares GAN on the ring of 8 Gaussians."""

from __future__ import annotations

from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.toy2d import ring_of_gaussians
from .gan_training import train_gan_2d

#: The settings of the notebook's "good" run (the bench trains the same, within its time budget); the notebook
#: stops at 1000 steps to keep its running time down (W2 ratio 1.14 there, 1.08 at 1500).
GOOD = {"steps": 1500, "lr": 2e-3, "batch": 256, "width": 64, "z_dim": 2, "seed": 0}


#: The least-squares GAN is less stable at lr 2e-3 on this target; lr 5e-4 with Adam's beta2 = 0.99 did best of
#: the settings tried (W2 ratio 1.37 against 1.51 with beta2 = 0.999; longer runs and the a = -1, b = 1, c = 0
#: coding did worse). Its gap to the 1.25 bar is mass off the modes, which notebook 03 measures.
LSGAN = {**GOOD, "lr": 5e-4, "betas": (0.5, 0.99)}


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
