"""Section 02's demos: each builds, every control and button redraws without error, and the numbers agree."""

import html

import ipywidgets as widgets
import numpy as np
import pytest
from helpers import PNG_MAGIC, png
from helpers import other_value as _other_value

import course_utils.widgets as cw
from course_utils.widgets import FigureDemo, demos

SPECS = demos("02")


@pytest.fixture(scope="module")
def built():
    return {s.name: s for s in SPECS}


@pytest.fixture(params=SPECS, ids=[s.name for s in SPECS])
def spec(request):
    return request.param


def test_section_02_demos_are_registered():
    assert [s.name for s in SPECS] == ["estimator_race_demo", "latent_explorer_demo", "beta_vae_demo",
                                       "vq_codebook_demo"]
    assert [s.simulates for s in SPECS] == [True, False, False, False]
    for s in SPECS:
        assert getattr(cw, s.name) is s.factory


def test_builds_and_every_control_changes_the_picture(spec):
    d = spec.build()
    assert isinstance(d, FigureDemo) and isinstance(d.image, widgets.Image)
    assert png(d).startswith(PNG_MAGIC)
    assert d.caption and html.escape(d.caption) in d.caption_html.value
    for name, control in d.controls.items():
        before = png(d)
        control.value = _other_value(control)
        assert png(d) != before, f"moving {name!r} left the picture unchanged"
        assert d.last_error is None


def test_buttons_and_the_lecture_preset(spec):
    d = spec.build(lecture=True)
    for name, control in d.controls.items():
        assert (control.layout.display == "none") == (name in type(d).secondary)
    for button in d.buttons.values():
        before = png(d)
        button.click()
        assert d.last_error is None and png(d) != before


def test_race_shows_the_exact_gradient_and_a_variance_ratio_above_one():
    d = cw.estimator_race_demo()
    d.controls["function"].value = "exp"
    d.controls["sigma"].value = 1.5
    assert float(d.race.exact[0]) == pytest.approx(np.exp(0.5 + 0.5 * 1.5**2))
    assert d.ratio > 1
    with d.hold():
        d.controls["function"].value = "sin"
        d.controls["sigma"].value = 0.2
    assert d.ratio > 10  # the score's variance grows like 1/sigma^2 while the pathwise one shrinks
    assert "variance ratio" in d.readout.value


def test_explorer_decodes_the_point_of_the_sliders():
    import torch

    d = cw.latent_explorer_demo()
    with d.hold():
        d.controls["z1"].value = 1.0
        d.controls["z2"].value = -0.5
    want = d.model.mean(torch.tensor([[1.0, -0.5]]))[0].reshape(8, 8).detach().numpy()
    np.testing.assert_allclose(d.decoded, want, atol=1e-6)


def test_beta_slider_looks_up_models_and_the_kl_falls_with_beta():
    d = cw.beta_vae_demo()
    kls = []
    for beta in sorted(d.runs):
        d.controls["beta"].value = beta
        assert d.run.beta == beta
        kls.append(d.stats["kl"])
    assert kls == sorted(kls, reverse=True)


def test_codebook_lab_encode_button_loads_a_test_digits_codes():
    d = cw.vq_codebook_demo()
    d.buttons["encode"].click()
    codes = [d.controls[f"code_{m}"].value for m in range(d.run.model.n_positions)]
    assert codes == d._test_codes[1].tolist()  # the sliders start at digit 0's codes
    assert d.decoded.shape == (8, 8)
