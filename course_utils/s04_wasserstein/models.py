"""Section 04's trained model: the WGAN-GP of notebook ``04_wasserstein`` on the ring of 8 Gaussians.

Only the gradient-penalty WGAN is registered. With Algorithm 1's constants (alpha = 5e-5, c = 0.01)
the clipped WGAN barely leaves its initialisation in a notebook's time budget; the notebook shows it,
and a clipped WGAN with larger constants (labelled as such), beside this one with their measured W2.

On this target the WGAN-GP's samples form the ring but keep thin bridges between its modes: a
continuous generator of a connected Gaussian cannot tear it into 8 separate pieces, so some mass
always lies between the modes. With a learning rate of 2e-3 over 600 generator steps (about 5 s on one
core) the bridges are thin enough for ``make bench``'s bar (W2 ratio <= 1.25): measured 1.18 (seed 0;
1.16 and 1.19 with seeds 1 and 2 over 700 steps); with the earlier 5e-4 over 500 steps it was 1.50.
"""

from __future__ import annotations

from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.mixtures import GaussianMixture
from ..data.toy2d import ring_of_gaussians
from .wgan import ALGORITHM_1, GP, train_wgan_2d

#: The notebook's WGAN-GP: n_critic = 5 and the penalty weight lambda = 0.1 of Gulrajani et al.'s own 2-D
#: experiments (their code: "smaller lambda seems to help for toy tasks"; lambda = 10 made our short runs
#: oscillate), Adam with betas (0.5, 0.9) as there, a learning rate 20x theirs (1e-4 is too slow for a
#: notebook), decaying to 0 over the last 30 % of the steps.
WGAN_GP = {"steps": 600, "batch": 128, "lr": 2e-3, "betas": (0.5, 0.9), "n_critic": GP["n_critic"],
           "lam": 0.1, "decay_last": 0.3, "width": 64, "z_dim": 2, "seed": 0}
#: Algorithm 1's constants, for as many generator steps as the notebook affords.
CLIP_DEFAULTS = {"steps": 150, **{k: ALGORITHM_1[k] for k in ("lr", "c", "batch", "n_critic")}}
#: A clipped WGAN with larger constants (not Algorithm 1's): c = 0.05 and RMSProp's alpha = 5e-4.
CLIP_TUNED = {"steps": 300, "lr": 5e-4, "c": 0.05, "batch": 128, "n_critic": ALGORITHM_1["n_critic"],
              "decay_last": 0.3, "seed": 0}


def wgan_target() -> GaussianMixture:
    """The 2-D target of the notebook's WGANs: the ring of 8 Gaussians of notebook 03."""
    return ring_of_gaussians()


@course_model(name="wgan_gp", section="04", kind="2d")
def wgan_gp(seconds_budget: float) -> TrainedModel:
    """The WGAN-GP of notebook 04 on its 2-D target."""
    target = wgan_target()
    run = train_wgan_2d(target, "gp", progress=False, max_seconds=seconds_budget, **WGAN_GP)
    return TrainedModel(run.sample(N_SAMPLE_SETS * N_SAMPLES, seed=7).double(), run.seconds,
                        target=lambda n: target.sample(n))
