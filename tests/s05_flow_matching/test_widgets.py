"""Section 05's demos: what they compute (the generic checks of every demo are in tests/ui/test_demos.py)."""

from __future__ import annotations

import pytest
import torch
from helpers import png

from course_utils.core.nets import TimeMLP
from course_utils.s05_flow_matching import flow_matching, probability_paths
from course_utils.s05_flow_matching import widgets as cw
from course_utils.s05_flow_matching.widgets import CONT_MIXTURE, HOLDS_BELOW, LENS_POINTS
from course_utils.ui.demos import demos

SECTION_05 = {"flow_field_demo", "flow_lens_demo", "flow_continuity_demo", "flow_scrub_demo", "flow_guidance_demo"}
SPECS = demos("05")


def test_section_05_demos_are_registered():
    assert {s.name for s in SPECS} == SECTION_05
    assert {s.name for s in SPECS if s.simulates} == {"flow_field_demo", "flow_guidance_demo"}


def test_flow_field_buttons_drop_and_clear_points():
    d = cw.flow_field_demo()
    before = png(d)
    d.buttons["drop"].click()
    assert len(d.dropped) == 1 and png(d) != before
    d.buttons["drop_many"].click()
    assert len(d.dropped) == 21
    d.buttons["clear"].click()
    assert len(d.dropped) == 0 and d.last_error is None


def test_flow_field_euler_error_shrinks_with_more_steps():
    d = cw.flow_field_demo()
    d.controls["n_steps"].value = 4
    coarse = d.euler_error
    d.controls["n_steps"].value = 32
    assert d.euler_error < coarse / 4


def test_lens_marginal_arrow_is_the_closed_form_field(built):
    d = built["flow_lens_demo"]
    for path in probability_paths.GAUSSIAN_PATHS:
        with d.hold():
            d.controls["path"].value = path
            d.controls["t"].value, d.controls["x"].value, d.controls["y"].value = 0.6, -0.5, 0.8
            d.controls["predict"].value = False
        x = torch.tensor([[-0.5, 0.8]], dtype=torch.float64)
        assert torch.allclose(d.u, probability_paths.marginal_velocity(x, 0.6, LENS_POINTS, path)[0])
        assert float(d.weights.sum()) == pytest.approx(1.0)
        assert d.marg_arrow.get_visible()
    d.controls["predict"].value = True
    assert not d.marg_arrow.get_visible() and "?" in d.readout.value


def test_continuity_meter_turns_red_when_v_is_broken():
    d = cw.flow_continuity_demo()
    for t in (0.05, 0.5, 0.95):
        d.controls["t"].value = t
        assert d.check.relative_residual < HOLDS_BELOW and "holds" in d.status.get_text()
    for how in ("scale", "swirl", "other"):
        with d.hold():
            d.controls["broken"].value = True
            d.controls["how"].value = how
        assert d.check.relative_residual > 2 * HOLDS_BELOW, how
        assert "BROKEN" in d.status.get_text()
    d.controls["broken"].value = False
    assert d.check.relative_residual < HOLDS_BELOW
    assert float(CONT_MIXTURE.weights.sum()) == pytest.approx(1.0)


def test_scrub_only_looks_up_after_the_first_view():
    d = cw.flow_scrub_demo()
    name = d.controls["target"].value
    cached = d.precomputed(name)
    d.controls["t"].value = 0.5
    assert d.precomputed(name) is cached
    assert cached["states"].shape == (51, 600, 2)
    d.play.value = 50  # Play drives t
    assert d.controls["t"].value == pytest.approx(1.0)


def test_scrub_accepts_learned_fields():
    torch.manual_seed(0)
    model = TimeMLP(2, 16, 2).eval()
    d = cw.flow_scrub_demo(fields={"moons": model}, source="a tiny untrained network")
    d.controls["t"].value = 0.3
    assert d.last_error is None and "untrained" in d.readout.value


def test_guidance_concentrates_as_w_grows(built):
    d = built["flow_guidance_demo"]
    d.controls["label"].value = 2
    spreads = {}
    for w in (0.0, 1.0, 4.0):
        d.controls["w"].value = w
        spreads[w] = d.spread
        if w == 0.0:
            assert 0.15 < d.share < 0.4   # the label is ignored: about a quarter of the samples on its modes
        else:
            assert d.share > 0.95
    assert spreads[4.0] < 0.8 * spreads[1.0]     # squeezed across the ring (and pushed outwards)
    assert d.drift > 0.1


def test_guidance_with_a_trained_run_offers_both_fields():
    mixture, labels = flow_matching.labelled_eight_gaussians()
    run = flow_matching.train_guided_flow(mixture, labels, steps=5, batch=32, width=16, depth=2, progress=False)
    d = cw.flow_guidance_demo(run=run)
    assert set(d.controls) == {"label", "w", "trails", "field"}
    d.controls["field"].value = "exact"
    assert "exact" in d.label.get_text() and d.last_error is None
