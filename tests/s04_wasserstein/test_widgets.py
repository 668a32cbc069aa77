"""Section 04's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py)."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.s04_wasserstein import transport, wgan
from course_utils.s04_wasserstein import widgets as cw
from course_utils.s04_wasserstein.widgets import critic_grid, critic_problem
from course_utils.ui.demos import demos

SECTION_04 = {"parallel_lines_demo", "earth_mover_demo", "transport_2d_demo", "critic_demo"}
SPECS = demos("04")


@pytest.fixture(scope="module")
def fits():
    """Two short critics (clip, gp) trained on the critic demo's clouds, with grid snapshots."""
    x, y, _ = critic_problem(96)
    grid = critic_grid(24)
    return x, y, {m: wgan.train_critic(x, y, m, steps=60, grid=grid, snapshot_every=20, progress=False)
                  for m in ("clip", "gp")}


def test_section_04_demos_are_registered():
    assert {s.name for s in SPECS} == SECTION_04
    assert not any(s.simulates for s in SPECS)  # closed forms and look-ups: 100 ms budget


def test_earth_mover_demo_starts_at_the_slides_value_3():
    d = cw.earth_mover_demo()
    assert d.w1 == pytest.approx(3.0, abs=1e-9)
    assert float(d.plan.mass.sum()) == pytest.approx(1.0)
    assert "3.0000" in d.readout.value
    with d.hold():
        d.controls["piece3"].value = 5.0  # piece 3 inside the target: less to move
        d.controls["width"].value = 1.0
    assert d.w1 < 3.0
    assert d.w1 == pytest.approx(float(d.plan.cost.sum()))


def test_parallel_lines_demo_values():
    d = cw.parallel_lines_demo()
    d.controls["theta"].value = 1.25
    assert float(d.divergences.w[0]) == pytest.approx(1.25)
    assert float(d.divergences.js[0]) == pytest.approx(math.log(2))
    assert math.isinf(float(d.divergences.kl[0])) and "∞" in d.readout.value
    d.controls["sigma"].value = 0.5
    assert float(d.divergences.kl[0]) == pytest.approx(1.25**2 / (2 * 0.25))
    assert float(d.divergences.js[0]) < math.log(2)


def test_transport_demo_pot_and_our_lp_agree():
    d = cw.transport_2d_demo()
    for dx in (-2.0, 0.5, 3.0):
        d.controls["dx"].value = dx
        assert d.lp_cost == pytest.approx(d.cost, rel=1e-8)
    d.controls["cost"].value = 2.0
    assert d.lp_cost == pytest.approx(d.cost, rel=1e-8)
    assert "W2²" in d.readout.value


def test_critic_demo_replays_the_fits(fits):
    x, y, f = fits
    d = cw.critic_demo(fits=f, x=x, y=y)
    d.controls["method"].value = "gp"
    d.controls["frame"].value = d.controls["frame"].max
    assert d.estimate == pytest.approx(f["gp"].snapshot_estimates[max(f["gp"].snapshots)])
    assert d.exact == pytest.approx(transport.w1_point_clouds(x, y))
    d.controls["method"].value = "clip"
    assert d.estimate < 0.1 * d.exact  # the clipped critic's raw gap is tiny


def test_critic_demo_trains_its_own_critics_when_given_none(monkeypatch):
    calls = []
    original = wgan.train_critic

    def quick(*args, **kwargs):
        calls.append(kwargs["grid"].shape)
        kwargs["steps"] = 10
        return original(*args, **kwargs)

    monkeypatch.setattr("course_utils.s04_wasserstein.widgets.train_critic", quick)
    d = cw.critic_demo()
    assert len(calls) == 2 and d.n_frames >= 2 and d.last_error is None
    assert torch.is_tensor(d.solution.plan)
