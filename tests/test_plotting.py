"""Tests of course_utils.plotting: the static figures, the render helpers."""

import io
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from course_utils.divergences import kl_std_normal
from course_utils.plotting import (
    plot_evidence_estimators,
    plot_kl_asymmetry,
    plot_kl_mc_convergence,
    render,
)


@pytest.fixture
def no_new_pyplot_figures():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


# --- static figures -----------------------------------------------------------------


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


def test_importing_plotting_does_not_import_pyplot_widgets_or_grading():
    code = (
        "import sys, course_utils.plotting;"
        "print(*(m in sys.modules for m in "
        "('matplotlib.pyplot', 'course_utils.widgets', 'course_utils.grading')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


# --- render helpers -----------------------------------------------------------------


def test_canvas_figure_is_independent_of_pyplot_and_renders_png(no_new_pyplot_figures):
    fig = render.canvas_figure((4.0, 2.0), dpi=80)
    fig.add_subplot().plot([0, 1], [1, 0])
    data = render.figure_png(fig)
    assert data.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(data)).size == render.pixel_size(fig) == (320, 160)


def test_filled_area_moves_in_place():
    fig = render.canvas_figure((3.0, 2.0))
    ax = fig.add_subplot()
    x = np.linspace(0, 1, 5)
    poly = render.filled_area(ax, x, x**2)
    render.set_filled_area(poly, x, 2 * x, lower=0.5)
    xy = poly.get_xy()
    assert np.allclose(xy[:5], np.column_stack([x, 2 * x]))
    assert np.allclose(xy[5:10, 1], 0.5)
    assert len(ax.patches) == 1


def test_clean_axis_removes_ticks_and_spines():
    ax = render.canvas_figure((3.0, 2.0)).add_subplot()
    render.clean_axis(ax, yticks=False)
    assert list(ax.get_yticks()) == [] and len(ax.get_xticks()) > 0
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()


def _pixels(fig):
    return np.asarray(Image.open(io.BytesIO(render.figure_png(fig))).convert("RGB"), dtype=float)


def _demo_figure():
    fig = render.canvas_figure((5.0, 3.0))
    ax = fig.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(-1, 1)
    ax.set_title("a static title")
    (line,) = ax.plot([0, 1], [0, 0], lw=2)
    text = ax.text(0.5, 0.5, "")
    return fig, ax, line, text


def test_frozen_background_renders_like_a_full_draw():
    fig_a, _, line_a, text_a = _demo_figure()
    fig_b, _, line_b, text_b = _demo_figure()
    background = render.FrozenBackground(fig_b, [line_b, text_b])
    for line, text in [(line_a, text_a), (line_b, text_b)]:
        line.set_ydata([-0.5, 0.8])
        text.set_text("live 0.42")
    a, b = _pixels(fig_a), _pixels(fig_b)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.5  # at most antialiasing differences
    # static artists are hidden (drawn once into the backdrop); a refresh re-captures them
    assert not fig_b.axes[0].title.get_visible()
    fig_b.axes[0].set_ylim(-2, 2)
    background.refresh()
    fig_a.axes[0].set_ylim(-2, 2)
    assert np.abs(_pixels(fig_a) - _pixels(fig_b)).mean() < 0.5


def test_single_thread_torch_restores_the_thread_count():
    n = torch.get_num_threads()
    with render.single_thread_torch():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n
