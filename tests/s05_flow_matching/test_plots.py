"""Section 05's static figures build from small inputs and are closed in pyplot; the animation stays small."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import data
from course_utils.s05_flow_matching import flow_matching, flows  # noqa: E402
from course_utils.s05_flow_matching.plots import (
    animate_flow_path,
    plot_flow_closed_form,
    plot_flow_continuity,
    plot_flow_guidance,
    plot_flow_paths,
    plot_flow_samples,
    plot_flow_schedulers,
    plot_flow_snapshots,
    plot_flow_solver_errors,
)


@pytest.fixture(scope="module")
def run():
    return flow_matching.train_flow("moons", steps=10, batch=32, width=8, depth=1, progress=False)


def test_closed_form_figures():
    spiral = flows.example_field("spiral")
    assert len(plot_flow_snapshots(spiral, times=(0.0, 1.0)).axes) == 2
    x0 = torch.tensor([[0.3, 0.2]], dtype=torch.float64)
    curves = [flows.solver_errors(spiral, x0, n_steps=(4, 8), method=m) for m in ("euler", "rk4")]
    assert isinstance(plot_flow_solver_errors(curves), Figure)
    assert isinstance(plot_flow_schedulers(), Figure)
    assert len(plot_flow_paths(torch.tensor([1.0, 0.0]), data.sample_target("moons", 50), times=(0.0, 0.5),
                                      n=50).axes) == 4
    points = data.sample_target("moons", 5).double()
    states = torch.randn(3, 20, 2, dtype=torch.float64)
    assert len(plot_flow_closed_form(points, states).axes) == 2
    density, velocity = flows.mixture_path(data.eight_gaussians())
    check = flows.continuity_check(density, velocity, 0.5, n=21)
    assert len(plot_flow_continuity(check, title="x").axes) == 5  # four panels and a colour bar


def test_training_figures(run):
    runs = {"moons": run, "again": run}
    assert len(plot_flow_samples(runs, {"moons": data.sample_target("moons", 50), "again": data.sample_target(
        "moons", 50)}, n=40).axes) == 6
    mixture, labels = flow_matching.labelled_eight_gaussians()
    samples = {0.0: torch.randn(30, 2), 2.0: torch.randn(30, 2)}
    assert len(plot_flow_guidance(samples, mixture, labels, 1).axes) == 2


def test_animation_is_small(run):
    states = run.sample(50, return_path=True, n_steps=10)
    html = animate_flow_path(states, torch.linspace(0, 1, 11), data=data.sample_target("moons", 50), frames=4)
    text = html.data
    assert "<script" in text and len(text) < 200_000
    assert text.count("data:image/png;base64") == 4


def test_no_figure_is_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    plot_flow_schedulers()
    assert plt.get_fignums() == []
