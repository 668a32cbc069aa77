"""Section 04's static figures build from small inputs and are closed in pyplot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.data.toy2d import ring_of_gaussians  # noqa: E402
from course_utils.s04_wasserstein import transport, wasserstein, wgan  # noqa: E402
from course_utils.s04_wasserstein.plots import (
    plot_critic_fits,
    plot_earth_mover,
    plot_parallel_lines,
    plot_sorted_coupling,
    plot_transport_plans,
    plot_wgan_estimates,
    transport_arc_paths,
)


def test_closed_form_figures():
    mu, nu = wasserstein.slides_example()
    fig = plot_earth_mover(mu, nu)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "3.000" in fig.axes[1].get_legend().get_texts()[-1].get_text()
    assert len(plot_parallel_lines().axes) == 3
    g = torch.Generator().manual_seed(0)
    assert len(plot_sorted_coupling(mu.sample(20, g), nu.sample(20, g)).axes) == 2


def test_transport_arcs_start_and_end_on_the_line():
    paths = transport_arc_paths([1.0, 9.0], [5.0, 6.0], base=0.5)
    assert len(paths) == 2
    assert paths[0][0].tolist() == [1.0, 0.5] and paths[0][-1].tolist() == [5.0, 0.5]
    assert paths[1][:, 1].max() > 0.5


def test_plan_figure():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64)
    a, b = transport.uniform_weights(6), transport.uniform_weights(5)
    best = transport.solve_ot_pot(a, b, transport.cost_matrix(x, y))
    fig = plot_transport_plans(x, y, {"optimal": best.plan, "independent": transport.independent_plan(a, b)},
                               {"optimal": best.cost, "independent": 1.0})
    assert len(fig.axes) == 2


@pytest.fixture(scope="module")
def small_runs():
    g = torch.Generator().manual_seed(2)
    x, y = ring_of_gaussians().sample(40, g), 0.5 * torch.randn(40, 2, generator=g, dtype=torch.float64)
    axis = torch.linspace(-3, 3, 8)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    fits = {m: wgan.train_critic(x, y, m, steps=5, grid=grid, snapshot_every=5, progress=False)
            for m in ("clip", "gp")}
    run = wgan.train_wgan_2d(ring_of_gaussians(), "gp", steps=4, batch=16, track_every=2, n_track=20, progress=False)
    return x, y, fits, run


def test_training_figures(small_runs):
    x, y, fits, run = small_runs
    plan = transport.solve_ot_pot(None, None, transport.cost_matrix(x, y))
    fig = plot_critic_fits({"clipping": fits["clip"], "penalty": fits["gp"]}, x, y, plan.plan, plan.cost, 8, 3.0)
    assert len(fig.axes) == 2
    assert len(plot_wgan_estimates({"GP": run, "again": run}, smooth=3).axes) == 2


def test_no_figure_is_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    plot_parallel_lines()
    assert plt.get_fignums() == []
