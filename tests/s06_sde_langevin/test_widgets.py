"""Section 06's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py)."""

from __future__ import annotations

import pytest

from course_utils.s06_sde_langevin import widgets as cw
from course_utils.ui.demos import demos

SPECS = demos("06")


def test_section_06_demos_are_registered():
    assert [s.name for s in SPECS] == ["langevin_lab_demo", "ode_to_sde_demo", "three_dynamics_demo"]
    assert all(s.simulates for s in SPECS)


def test_every_section_06_demo_hides_some_controls_in_the_lecture_preset():
    for s in SPECS:
        d = s.build(lecture=True)
        assert any(c.layout.display == "none" for c in d.controls.values()), s.name


def test_langevin_lab_matched_tempered_and_broken():
    d = cw.langevin_lab_demo()
    with d.hold():
        d.controls["eta"].value = 0.05
        d.controls["temperature"].value = 1.0
        d.controls["steps"].value = 600
    assert d.diverged == 0 and d.l1_p < 0.25
    d.controls["temperature"].value = 2.0       # alpha = 2 eta: the histogram follows p^(1/2), not p
    assert d.l1_tempered < d.l1_p
    assert "BROKEN" not in d.alarm.get_text()
    with d.hold():
        d.controls["temperature"].value = 1.0
        d.controls["eta"].value = 1.5           # beyond 2 s^2 = 0.9: the chain diverges
        d.controls["steps"].value = 200
    assert d.diverged > 0 and "BROKEN" in d.alarm.get_text() and d.last_error is None


def test_langevin_lab_steps_slider_only_looks_up():
    d = cw.langevin_lab_demo()
    d.controls["steps"].value = 400
    cached = dict(d._chains)
    d.controls["steps"].value = 100
    assert d._chains.keys() == cached.keys() and all(d._chains[k] is cached[k] for k in cached)


def test_ode_to_sde_every_sigma_lands_on_the_data_with_longer_paths():
    d = cw.ode_to_sde_demo()
    lengths = []
    for sigma in (0.0, 0.75, 1.5):
        d.controls["sigma"].value = sigma
        assert abs(d.log_p - d.data_log_p) < 0.2, (sigma, d.log_p, d.data_log_p)
        lengths.append(d.path_length)
    assert lengths[0] < lengths[1] < lengths[2]


def test_three_dynamics_share_the_marginal_and_play_scrubs():
    d = cw.three_dynamics_demo()
    for t in (0.2, 0.6, 0.95):
        d.controls["t"].value = t
        assert all(abs(lp - d.exact_log_p) < 0.25 for lp in d.log_p), (t, d.log_p, d.exact_log_p)
    cached = d.dynamics
    d.play.value = 10                       # a Play tick moves t to the 10th grid time, reusing the simulation
    assert d.controls["t"].value == pytest.approx(float(d.times[10]), abs=0.005) and d.dynamics is cached
    d.controls["sigma"].value = 2.0
    assert d.dynamics is not cached and d.dynamics.sigma == 2.0
