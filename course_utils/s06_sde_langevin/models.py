"""Section 06's trained model: the score network of notebook 06 on eight Gaussians, sampled with the SDE."""

from __future__ import annotations

import torch

from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.toy2d import eight_gaussians
from .score_matching import sample_sde, train_score_model, vanishing_sigma

#: The notebook's recipe, trained longer: 3,000 Adam steps of batch 256 (the last 600 at lr 3e-4; notebook 06
#: takes 1,500 to stay quick), then 200 SDE steps with sigma_t = beta_t from N(0, I).
STEPS, SAMPLER_STEPS, DATA_SEED, TRAIN_SEED, SAMPLE_SEED = 3000, 200, 10, 0, 1


@course_model(name="score_sde_eight_gaussians", section="06", kind="2d")
def score_sde_eight_gaussians(seconds_budget: float) -> TrainedModel:
    """Denoising score matching (weighted, through a velocity network) on eight Gaussians; SDE samples."""
    target = eight_gaussians()
    draws = torch.Generator().manual_seed(DATA_SEED)
    run = train_score_model(lambda n: target.sample(n, draws).float(), steps=STEPS, seed=TRAIN_SEED, progress=False,
                            max_seconds=0.95 * seconds_budget)
    samples = sample_sde(run.model, N_SAMPLE_SETS * N_SAMPLES, vanishing_sigma(1.0), SAMPLER_STEPS, seed=SAMPLE_SEED)
    return TrainedModel(samples.double(), run.seconds, target=lambda n: target.sample(n))
