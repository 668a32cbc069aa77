"""Section 07's trained models: a DDPM on the eight Gaussians and a DDPM on the 8x8 digits.

Both train with the functions and settings the notebook ``07_ddpm`` uses
(:func:`~.diffusion.train_ddpm_2d`, :func:`~.diffusion.train_ddpm_digits`,
Ho et al.'s linear schedule, T = 1000), stopping early if 80% of the time budget runs out (the rest
covers what happens before the first step, like importing tqdm, on a busy machine).
The digits model is judged on its samples only (:func:`course_utils.metrics.digits_quality`, their distance to
held-out real digits beside a real draw's): it has no reconstructions.
"""

from __future__ import annotations

import torch

from ..core.threads import one_thread
from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.digits import load_digits_split
from ..data.toy2d import eight_gaussians
from .ddim import ddim_sample
from .diffusion import make_schedule, signed_to_pixels, train_ddpm_2d, train_ddpm_digits

#: Digits are sampled with deterministic DDIM, 50 steps, x0_hat clipped to the pixel range.
DIGITS_DDIM_STEPS = 50


@course_model(name="ddpm_eight_gaussians", section="07", kind="2d")
def ddpm_eight_gaussians(seconds_budget: float) -> TrainedModel:
    """DDPM (eps-prediction, T = 1000) on the eight Gaussians; three sets of 2,000 ancestral samples (the slides'
    algorithm)."""
    target = eight_gaussians()
    gen = torch.Generator().manual_seed(10)
    run = train_ddpm_2d(lambda n: target.sample(n, gen).float(), make_schedule("linear"), progress=False,
                        max_seconds=0.8 * seconds_budget)
    return TrainedModel(run.sample(N_SAMPLE_SETS * N_SAMPLES, seed=7).double(), run.seconds,
                        target=lambda n: target.sample(n))


@course_model(name="ddpm_digits", section="07", kind="digits")
def ddpm_digits(seconds_budget: float) -> TrainedModel:
    """DDPM on the 8x8 digits; 2,000 DDIM samples (a diffusion model has no reconstructions to judge)."""
    split = load_digits_split()
    schedule = make_schedule("linear")
    run = train_ddpm_digits(split.x_train, schedule, progress=False, max_seconds=0.8 * seconds_budget)
    with one_thread():
        samples = ddim_sample(run.model, run.noise(N_SAMPLES, seed=7), schedule, DIGITS_DDIM_STEPS, clip=1.0)
    return TrainedModel(signed_to_pixels(samples), run.seconds)
