"""Section 06's static figures build from small inputs and are closed in pyplot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.data.toy2d import eight_gaussians  # noqa: E402
from course_utils.s06_sde_langevin import langevin, score_matching, sde  # noqa: E402
from course_utils.s06_sde_langevin.plots import (
    plot_brownian_paths,
    plot_dsm_loss_floor,
    plot_langevin_tempering,
    plot_learned_score,
    plot_ou_marginals,
    plot_score_field,
    plot_score_model_samples,
    plot_sde_trajectories,
)

GEN = torch.Generator().manual_seed(0)


def test_brownian_and_ou_figures():
    bm = sde.brownian_motion(200, 20, generator=GEN)
    assert len(plot_brownian_paths(bm, n_show=5).axes) == 3
    times = torch.linspace(0, 1, 21, dtype=torch.float64)
    paths = sde.euler_maruyama(sde.ou_drift(2.0), 1.0, torch.full((100, 1), 2.0, dtype=torch.float64), 0.0, 1.0, 20,
                               GEN, return_path=True)
    assert len(plot_ou_marginals(times, paths, (0.1, 0.5, 1.0), 2.0, 1.0, 2.0).axes) == 2


def test_score_and_langevin_figures():
    mix = langevin.two_gaussians()
    assert isinstance(plot_score_field(mix, n_arrows=7), Figure)
    x = torch.randn(300, 2, generator=GEN, dtype=torch.float64)
    fig = plot_langevin_tempering(mix, [("matched", x, 1.0), ("hot", x, 0.5)])
    assert len(fig.axes) == 2


def test_sde_and_score_matching_figures():
    eight = eight_gaussians()
    runs = {s: sde.euler_maruyama(sde.MixturePath(eight).drift(s), s, torch.randn(30, 2, generator=GEN,
                                                                                   dtype=torch.float64),
                                  sde.T_MIN, 1.0, 10, GEN, return_path=True) for s in (0.0, 1.0)}
    assert len(plot_sde_trajectories(eight, runs, n_show=3).axes) == 4
    times = torch.linspace(0.1, 0.9, 5)
    assert isinstance(plot_dsm_loss_floor(times, torch.ones(5), torch.ones(5)), Figure)
    torch.manual_seed(0)
    net = score_matching.ScoreNet(2, 8, 1)
    assert len(plot_learned_score(net, sde.MixturePath(eight), (0.3, 0.8), n_arrows=5).axes) == 2
    samples = {"a": torch.randn(50, 2, generator=GEN), "b": torch.randn(50, 2, generator=GEN)}
    fig = plot_score_model_samples(torch.rand(100, dtype=torch.float64) + 1, samples, eight.sample(100, GEN))
    assert len(fig.axes) == 3


def test_no_figure_is_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    plot_score_field(langevin.two_gaussians(), n_arrows=5)
    assert plt.get_fignums() == []
