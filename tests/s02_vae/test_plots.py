"""Smoke tests of section 02's static figures (course_utils.s02_vae.plots)."""

import torch
from matplotlib.figure import Figure

from course_utils.data.digits import load_digits_split
from course_utils.s02_vae.plots import (
    plot_codebook_usage,
    plot_digit_rows,
    plot_estimator_variance,
    plot_latent_space,
    plot_pixel_likelihoods,
    plot_vae_losses,
)
from course_utils.s02_vae.vae import VAE, TrainingRun


def test_estimator_variance_has_two_log_panels(no_new_pyplot_figures):
    fig = plot_estimator_variance(ns=(1, 8, 64), repeats=50)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_lines()) == 2


def test_loss_terms_latent_digits_likelihoods_usage(no_new_pyplot_figures):
    split = load_digits_split()
    run = TrainingRun(VAE(latent_dim=2, hidden=8), torch.rand(100), torch.rand(100), 1.0, 0.1)
    assert len(plot_vae_losses({"a": run, "b": run}).axes) == 3
    assert len(plot_digit_rows({"x": split.x_test, "y": split.x_test[:3]}).axes) == 2
    assert len(plot_latent_space(run.model, split.x_test[:50], split.y_test[:50]).axes) == 1
    assert len(plot_pixel_likelihoods().axes) == 2
    fig = plot_codebook_usage({"u": torch.tensor([3, 0, 5, 1])})
    assert "1 dead" in fig.axes[0].get_title()
