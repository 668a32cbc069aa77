"""The render helpers every plot and widget shares (course_utils.ui.render)."""

import io

import numpy as np
import torch
from PIL import Image

from course_utils.ui import render


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
