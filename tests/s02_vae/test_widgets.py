"""Section 02's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py)."""

import numpy as np
import pytest
from helpers import png

from course_utils.s02_vae import widgets as cw
from course_utils.ui.demos import demos

SPECS = demos("02")


def test_section_02_demos_are_registered():
    assert [s.name for s in SPECS] == ["estimator_race_demo", "latent_explorer_demo", "beta_vae_demo",
                                       "vq_codebook_demo"]
    assert [s.simulates for s in SPECS] == [True, False, False, False]


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
    before = png(d)
    d.buttons["encode"].click()
    assert d.last_error is None and png(d) != before
    codes = [d.controls[f"code_{m}"].value for m in range(d.run.model.n_positions)]
    assert codes == d._test_codes[1].tolist()  # the sliders start at digit 0's codes
    assert d.decoded.shape == (8, 8)


def test_race_readout_says_which_estimator_wins_at_sin_2z():
    d = cw.estimator_race_demo()
    with d.hold():
        d.controls["function"].value = "sin"
        d.controls["sigma"].value = 1.0
        d.controls["mu"].value = 0.5
    assert d.ratio < 0.5  # the score function is tighter here (closed form: 0.25x)
    assert "the score function is tighter" in d.readout.value
    assert "depends on f and σ" in d.caption
