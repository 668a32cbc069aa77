"""course_utils.data.toy2d: the 2-D toy targets, checked against their geometric definitions."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import data


@pytest.mark.parametrize("name", data.TARGETS)
def test_targets_are_seeded_float32_points(name):
    x = data.sample_target(name, 500, seed=3)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert torch.equal(x, data.sample_target(name, 500, seed=3))
    assert not torch.equal(x, data.sample_target(name, 500, seed=4))
    assert float(x.abs().max()) < 3.5


def test_moons_lie_on_two_half_circles():
    x = data.two_moons(4000, noise=0.0, generator=torch.Generator().manual_seed(0)) / 1.5 + torch.tensor([0.5, 0.25])
    upper = (x.norm(dim=1) - 1).abs() < 1e-5
    lower = ((x - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs() < 1e-5
    assert bool((upper | lower).all())
    assert abs(upper.float().mean().item() - 0.5) < 0.05
    assert bool((x[upper, 1] >= -1e-6).all()) and bool((x[lower, 1] <= 0.5 + 1e-6).all())


def test_checkerboard_is_uniform_on_the_eight_black_squares():
    x = data.checkerboard(16000, generator=torch.Generator().manual_seed(1))
    assert bool(((x >= -2) & (x < 2)).all())
    cells = torch.floor(x).long()
    assert bool(((cells[:, 0] + cells[:, 1]) % 2 == 0).all())
    counts = torch.unique(cells[:, 0] * 10 + cells[:, 1], return_counts=True)[1]
    assert len(counts) == 8
    assert bool(((counts / 16000 - 1 / 8).abs() < 0.015).all())


def test_eight_gaussians_geometry():
    mix = data.eight_gaussians(radius=2.0, std=0.2)
    assert mix.means.shape == (8, 2)
    assert torch.allclose(mix.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    assert torch.allclose(mix.variances, torch.full((8,), 0.04, dtype=torch.float64))
    angles = torch.atan2(mix.means[:, 1], mix.means[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8, dtype=torch.float64) * math.pi / 4, atol=1e-9)


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="unknown target"):
        data.sample_target("spiral", 10)
    with pytest.raises(ValueError, match="positive int"):
        data.two_moons(0)
    with pytest.raises(ValueError, match="standard deviation"):
        data.two_moons(10, noise=-1.0)
