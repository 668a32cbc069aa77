"""Section 02's trained models: the digits VAE (Gaussian decoder, J = 8) and the digits VQ-VAE.

Both train with the same functions the notebook ``02_vae`` calls (:func:`~.vae.train_vae`,
:func:`~.vq.train_vqvae`), stopping early if the time budget runs out.
"""

from __future__ import annotations

from ..core.trained import N_SAMPLES, TrainedModel, course_model
from ..data.digits import load_digits_split
from .vae import train_vae
from .vq import train_vqvae

#: Training steps: the notebook's for the VAE; the VQ-VAE gets a third more than the notebook's 600.
VAE_STEPS, VQ_STEPS = 800, 800


@course_model(name="digits_vae", section="02", kind="digits")
def digits_vae(seconds_budget: float) -> TrainedModel:
    """The Gaussian-decoder VAE (J = 8): prior samples (decoder means) and held-out reconstructions."""
    split = load_digits_split()
    run = train_vae(split.x_train, latent_dim=8, likelihood="gaussian", steps=VAE_STEPS, progress=False,
                    max_seconds=0.9 * seconds_budget)
    model = run.model
    return TrainedModel(samples=model.sample(N_SAMPLES), train_seconds=run.seconds,
                        reconstructions=model.reconstruct(split.x_test), labels=split.y_test)


@course_model(name="digits_vqvae", section="02", kind="digits")
def digits_vqvae(seconds_budget: float) -> TrainedModel:
    """The VQ-VAE (M = 4 positions, K = 32 codewords of size 2); samples draw each position's code
    from its frequency on the training digits."""
    split = load_digits_split()
    run = train_vqvae(split.x_train, steps=VQ_STEPS, progress=False, max_seconds=0.9 * seconds_budget)
    return TrainedModel(samples=run.sample(split.x_train, N_SAMPLES), train_seconds=run.seconds,
                        reconstructions=run.model.reconstruct(split.x_test), labels=split.y_test)
