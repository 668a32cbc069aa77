"""Section 03's static figures build from small inputs and are closed in pyplot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.s03_gans import cyclegan  # noqa: E402
from course_utils.s03_gans import gan_training as gt  # noqa: E402
from course_utils.s03_gans.adain import colour_digits  # noqa: E402
from course_utils.s03_gans.plots import (
    plot_adain_grid,
    plot_cgan_samples,
    plot_cyclegan,
    plot_gan_snapshots,
    plot_generator_gradients,
    plot_optimal_discriminator,
    plot_sample_quality,
)


@pytest.fixture(scope="module")
def run():
    return gt.train_gan_2d(gt.ring_of_gaussians(), steps=20, snapshot_every=10, progress=False, width=16, batch=32)


def test_closed_form_figures():
    grid = torch.linspace(-5, 5, 101, dtype=torch.float64)
    p = torch.exp(-0.5 * grid**2) / (2 * torch.pi) ** 0.5
    q = torch.exp(-0.5 * (grid - 1) ** 2) / (2 * torch.pi) ** 0.5
    fig = plot_optimal_discriminator(grid, p, [q, p], ["shifted", "equal"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(plot_generator_gradients(), Figure)


def test_training_figures(run):
    ring = gt.ring_of_gaussians()
    assert len(plot_gan_snapshots(run, ring).axes) == 3
    assert isinstance(plot_sample_quality([("data vs data", 0.3, None), ("GAN", 0.5, 7)]), Figure)
    mixture, labels = gt.labelled_ring()
    cgan = gt.train_cgan_2d(mixture, labels, steps=5, progress=False, width=8, batch=16)
    assert len(plot_cgan_samples(cgan, mixture, labels, n=50).axes) == 4
    g = torch.Generator().manual_seed(0)
    cyc = cyclegan.train_cyclegan(lambda n: cyclegan.circle_domain(n, g)[0], lambda n: cyclegan.square_domain(n, g)[0],
                                  steps=3, width=8, batch=16, progress=False)
    x, angle = cyclegan.circle_domain(50, g)
    y, _ = cyclegan.square_domain(50, g)
    assert len(plot_cyclegan({"a": cyc, "b": cyc}, x, angle, y).axes) == 6


def test_adain_grid():
    pixels = torch.rand(3, 64, dtype=torch.float64)
    contents = colour_digits(pixels[:2], (0, 0, 0), (1, 1, 1))
    styles = colour_digits(pixels, (1, 0.5, 0), (0, 0, 0.4))
    fig = plot_adain_grid(contents, styles)
    assert len(fig.axes) == 3 * 4


def test_no_figure_is_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    plot_generator_gradients()
    assert plt.get_fignums() == []
