"""Section 01's static figures (course_utils.s01_kl_elbo.plots)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.s01_kl_elbo.divergences import kl_std_normal
from course_utils.s01_kl_elbo.plots import plot_evidence_estimators, plot_kl_asymmetry, plot_kl_mc_convergence


def test_kl_mc_convergence_figure(no_new_pyplot_figures):
    fig = plot_kl_mc_convergence(n_max=2000, n_points=20)
    try:
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        ax = fig.axes[0]
        mu, var = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.5, 2.0]])  # the defaults
        exact = float(kl_std_normal(mu, torch.log(var))[0])
        horizontal = [ln for ln in ax.get_lines() if np.ptp(ln.get_ydata()) == 0]
        assert any(np.isclose(ln.get_ydata()[0], exact) for ln in horizontal)
        assert ax.get_xscale() == "log"
        estimate = next(ln for ln in ax.get_lines() if np.ptp(ln.get_ydata()) > 0)
        assert estimate.get_xdata()[-1] == 2000
        assert abs(estimate.get_ydata()[-1] - exact) < 0.2
    finally:
        plt.close(fig)


def test_kl_mc_convergence_accepts_a_general_gaussian_p():
    fig = plot_kl_mc_convergence(mu_q=[0.0], var_q=[1.0], mu_p=[1.0], var_p=[2.0], n_max=500)
    try:
        assert len(fig.axes) == 2
    finally:
        plt.close(fig)


def test_kl_asymmetry_figure(no_new_pyplot_figures):
    fig = plot_kl_asymmetry(separation=5.0)
    try:
        assert len(fig.axes) == 2
        forward, reverse = fig.axes
        assert len(forward.get_lines()) == 2  # p, forward fit
        assert len(reverse.get_lines()) == 3  # p, reverse fits from both modes
        labels = [t.get_text() for t in reverse.get_legend().get_texts()]
        assert all("KL(p‖q)" in t and "KL(q‖p)" in t for t in labels[1:])
    finally:
        plt.close(fig)


@pytest.mark.parametrize("proposals", [("prior", "q"), ("prior", "q", "posterior")])
def test_evidence_estimators_figure(proposals, no_new_pyplot_figures):
    fig = plot_evidence_estimators(Ks=(1, 8, 64), n_rep=30, proposals=proposals)
    try:
        assert len(fig.axes) == len(proposals)
        for ax in fig.axes:
            # the true log p(x): a horizontal line at 0
            assert any(np.all(np.asarray(ln.get_ydata()) == 0) for ln in ax.get_lines())
    finally:
        plt.close(fig)
