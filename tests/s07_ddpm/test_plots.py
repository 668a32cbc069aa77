"""Section 07's static figures build from small inputs and are closed in pyplot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.s07_ddpm import diffusion as dm  # noqa: E402
from course_utils.s07_ddpm.plots import (
    plot_ddim_ode_gaps,
    plot_ddim_quality,
    plot_ddpm_chain_vs_kernel,
    plot_ddpm_flow_convention,
    plot_ddpm_reverse,
    plot_ddpm_schedules,
    plot_ddpm_time_embedding,
)


@pytest.fixture(scope="module")
def schedule():
    return dm.make_schedule("linear")


def test_forward_process_figures(schedule):
    fig = plot_ddpm_chain_vs_kernel(torch.tensor([[1.0, 0.5]]), schedule, ts=(5, 50), n=500)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(plot_ddpm_schedules({"linear": schedule, "cosine": dm.make_schedule("cosine")}).axes) == 3
    assert isinstance(plot_ddpm_time_embedding(dim=8, T=100), Figure)


def test_reverse_and_quality_figures():
    small = dm.make_schedule("linear", T=20)
    torch.manual_seed(0)
    net = dm.EpsNet(2, width=8, depth=1)
    _, (path, steps) = dm.ancestral_sample(net, torch.randn(50, 2), small, return_path=True, path_every=5)
    fig = plot_ddpm_reverse(path, steps, torch.randn(100, 2), shown=(20, 10, 0))
    assert len(fig.axes) == 3
    gap = {1: 3.0, 10: 0.5, 100: 0.05}
    assert len(plot_ddim_quality(gap).axes) == 1
    fig = plot_ddim_quality(gap, {1: 5.0, 10: 1.6, 100: 1.3}, 2.0, {1: 0.01, 10: 0.1, 100: 1.0})
    assert len(fig.axes) == 2
    assert isinstance(plot_ddim_ode_gaps({"DDIM": {5: 0.5, 50: 0.05}, "Euler": {5: 0.3, 50: 0.03}}), Figure)


def test_flow_convention_figure(schedule):
    assert len(plot_ddpm_flow_convention(schedule).axes) == 2


def test_no_figure_is_left_open_in_pyplot(schedule):
    import matplotlib.pyplot as plt

    plot_ddpm_schedules({"linear": schedule})
    assert plt.get_fignums() == []
