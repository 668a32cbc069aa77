"""Section 03's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py)."""

from __future__ import annotations

import math

import pytest
from helpers import png

from course_utils.s03_gans import widgets as cw
from course_utils.s03_gans.gan import LOG_4
from course_utils.ui.demos import demos

SECTION_03 = {"gan_equilibrium_demo", "gan_lab_demo", "cgan_label_demo", "adain_demo"}
SPECS = demos("03")


def test_section_03_demos_are_registered():
    assert {s.name for s in SPECS} == SECTION_03
    assert {s.name for s in SPECS if s.simulates} == {"gan_lab_demo"}


@pytest.mark.parametrize("mean, std, sep", [(-2.5, 0.6, 3.0), (1.0, 2.0, 0.0), (0.0, 0.5, 6.0)])
def test_equilibrium_demo_identity(built, mean, std, sep):
    d = built["gan_equilibrium_demo"]
    with d.hold():
        d.controls["mean"].value, d.controls["std"].value, d.controls["separation"].value = mean, std, sep
    assert d.value == pytest.approx(-LOG_4 + 2 * d.jsd, abs=1e-6)
    assert 0 <= d.jsd <= math.log(2) + 1e-9


def test_equilibrium_demo_reaches_minus_log_4_when_the_generator_is_the_data():
    d = cw.gan_equilibrium_demo()
    with d.hold():  # separation 0: p_X = 0.4 N(0, 0.25) + 0.6 N(0, 0.49), close to one Gaussian
        d.controls["separation"].value = 0.0
        d.controls["mean"].value = 0.0
        d.controls["std"].value = 0.63
    assert d.value == pytest.approx(-LOG_4, abs=5e-3)
    from course_utils.s03_gans.widgets import GRID

    central = GRID.abs() < 1.5  # where the data has its mass
    assert float((d.d_star[central] - 0.5).abs().max()) < 0.1


def test_gan_lab_does_not_train_when_built_and_trains_on_buttons_and_play():
    d = cw.gan_lab_demo()
    assert d.step_count == 0 and d.history == {"d": [], "g": []}
    before = png(d)
    d.buttons["step_d"].click()
    assert d.step_count == 1 and len(d.history["d"]) == 1 and png(d) != before
    d.buttons["step_g"].click()
    assert len(d.history["g"]) == 1
    d.buttons["step_both"].click()
    assert len(d.history["g"]) == 21
    before = png(d)
    d.play.value += 1  # one Play tick: steps_per_frame alternating updates
    assert len(d.history["g"]) == 21 + d.controls["steps_per_frame"].value and png(d) != before
    d.controls["loss"].value = "least_squares"
    d.buttons["step_both"].click()
    assert d.last_error is None and len(d.history["g"]) == 41 + d.controls["steps_per_frame"].value
    d.buttons["reset"].click()
    assert d.step_count == 0 and d.last_error is None


def test_gan_lab_arrows_shrink_with_the_saturating_loss_when_d_is_confident():
    d = cw.gan_lab_demo()
    for _ in range(10):
        d.trainer.step_d()  # D alone learns to reject the untrained fakes
    d.controls["loss"].value = "nonsaturating"
    d.redraw()
    ns = d._fake_gradients(d.generator(d.fixed_z)).norm(dim=1).mean()
    d.controls["loss"].value = "minimax"
    mm = d._fake_gradients(d.generator(d.fixed_z)).norm(dim=1).mean()
    assert float(mm) < float(ns)


def test_cgan_demo_only_looks_up(built):
    d = built["cgan_label_demo"]
    assert len(d.samples) == d.run.n_labels * 10
    d.controls["label"].value = 2
    assert "label 2" in d.readout.value


def test_adain_demo_output_has_the_style_means(built):
    from course_utils.s03_gans.adain import instance_stats

    d = built["adain_demo"]
    d.controls["alpha"].value = 1.0
    mu_out, _ = instance_stats(d.output, 0.0)
    assert mu_out.shape == (1, 3, 1, 1)
