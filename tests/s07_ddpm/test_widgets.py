"""Section 07's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py).

The demos' own models train once per test run, with few steps (quality is not what is tested; see
tests/conftest.py), so the file stays fast. What the demos compute is checked against the reference math.
"""

from __future__ import annotations

import pytest
import torch

from course_utils.s07_ddpm import ddim
from course_utils.ui.demos import demos

SECTION_07 = {"ddpm_schedule_demo", "ddpm_reverse_demo", "ddim_steps_demo", "ddim_eta_demo", "ddpm_tweedie_demo"}
SPECS = demos("07")


def test_section_07_demos_are_registered():
    assert {s.name for s in SPECS} == SECTION_07
    assert {s.name for s in SPECS if s.simulates} == {"ddim_eta_demo"}


def test_schedule_demo_shows_the_kernel(built):
    d = built["ddpm_schedule_demo"]
    with d.hold():
        d.controls["schedule"].value = "linear"
        d.controls["t"].value = 500
    assert d.abar == pytest.approx(0.0786, rel=1e-3)  # the lecture's abar_500
    d.controls["t"].value = 0
    assert d.abar == 1.0


def test_reverse_demo_play_moves_the_frame(built):
    d = built["ddpm_reverse_demo"]
    d.play.value = 5
    assert d.controls["frame"].value == 5 and d.last_error is None
    assert d.steps[0] == 1000 and d.steps[-1] == 0


def test_eta_demo_ddim_is_euler_at_eta_0_and_leaves_it_with_noise(built):
    d = built["ddim_eta_demo"]
    with d.hold():
        d.controls["eta"].value = 0.0
        d.controls["steps"].value = 20
    assert d.gap_euler < 1e-4
    d.controls["eta"].value = 1.0
    assert d.gap_euler > 1e-2


def test_eta_demo_takes_its_start_and_ode_solution_from_the_notebook(built):
    from course_utils.s07_ddpm.widgets import ddim_eta_demo

    d = built["ddim_eta_demo"]
    x_T = d.x_T[:20].clone()
    exact = ddim.pf_ode_sample(d.run.model, x_T, d.schedule, n_steps=50, method="rk4")
    given = ddim_eta_demo(run_2d=d.run, x_T=x_T, exact=exact)
    assert torch.equal(given.x_T, x_T) and torch.equal(given.exact, exact) and given.n_paths == 14
    computed = ddim_eta_demo(run_2d=d.run, x_T=x_T)  # no solution given: RK4 with 200 steps from x_T
    assert torch.allclose(computed.exact, exact, atol=0.05)
    with pytest.raises(ValueError, match="pass both"):
        ddim_eta_demo(run_2d=d.run, exact=exact)
    with pytest.raises(ValueError, match="same shape"):
        ddim_eta_demo(run_2d=d.run, x_T=x_T, exact=exact[:5])


def test_tweedie_lens_matches_the_exact_denoiser(built):
    d = built["ddpm_tweedie_demo"]
    with d.hold():
        d.controls["x"].value, d.controls["y"].value, d.controls["t"].value = 1.5, 1.4, 1000
    assert float(d.x0_exact.norm()) < 0.2  # at t = T the best guess is the data mean (0, 0)
    with d.hold():
        d.controls["t"].value = 5
    expected = ddim.mixture_x0_mean(torch.tensor([[1.5, 1.4]], dtype=torch.float64), 5, d.mixture, d.schedule)[0]
    assert torch.allclose(d.x0_exact, expected)
    assert float(d.weights.max()) > 0.99  # one mode has won
    assert abs(float(d.weights.sum()) - 1) < 1e-9


def test_steps_demo_only_looks_up(built):
    d = built["ddim_steps_demo"]
    assert set(d.quality.ode_gap) == set(ddim.QUALITY_STEPS)
    d.controls["steps"].value = 1000
    assert "1000 steps" in d.readout.value
