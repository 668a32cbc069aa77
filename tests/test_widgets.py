"""Tests of the interactive demos (course_utils.widgets): behaviour only, no timings (see course_utils/bench.py).

Every registered demo of every section is built, each control and button is exercised, and the
lecture preset and hold() are checked; then section 01's demos' numbers against the math they show.
The other sections' own behaviour is in test_widgets_sectionNN.py.
"""

import html
import io
import subprocess
import sys

import ipywidgets as widgets
import numpy as np
import pytest
from helpers import PNG_MAGIC, png, small_demo_models
from helpers import other_value as _other_value
from PIL import Image

import course_utils.widgets as cw
from course_utils.widgets import DemoSpec, FigureDemo, demo, demos
from course_utils.widgets import registry as registry_module

SECTION_01 = {"kl_fit_demo", "elbo_ledger_demo", "evidence_estimator_demo"}
SPECS = demos()


@pytest.fixture(scope="module", autouse=True)
def small_models():
    """Demos that train their own models (modules with DEMO_STEPS) train few steps here; restored afterwards."""
    with small_demo_models() as modules:
        yield modules


@pytest.fixture(scope="module")
def built_demos(small_models):
    return {}


@pytest.fixture(params=SPECS, ids=[f"{s.section}/{s.name}" for s in SPECS])
def spec(request):
    return request.param


@pytest.fixture
def built(spec, built_demos):
    """The spec's demo, built once for the module; each test gets it with its controls back at their start values
    (a control's effect may depend on the others: at 1 DDIM step, eta changes nothing)."""
    key = (spec.section, spec.name)
    if key not in built_demos:
        d = spec.build()
        built_demos[key] = (d, d.values)
    d, start = built_demos[key]
    with d.hold():
        for name, value in start.items():
            d.controls[name].value = value
    assert d.last_error is None
    return d


# --- registry -----------------------------------------------------------------------


def test_section_01_demos_are_discovered():
    assert {s.name for s in demos("01")} == SECTION_01


def test_every_demo_is_well_formed_and_re_exported():
    assert SPECS
    for s in SPECS:
        assert isinstance(s, DemoSpec)
        assert len(s.section) == 2 and s.section.isdigit() and s.title and callable(s.factory)
        assert getattr(cw, s.name) is s.factory  # re-exported: from course_utils.widgets import ...


def test_demos_without_section_lists_every_section_in_order():
    sections = sorted({s.section for s in SPECS})
    assert SPECS == [s for section in sections for s in demos(section)]
    for section in sections:
        orders = [s.order for s in demos(section)]
        assert orders == sorted(orders)
    assert demos("1") == demos("01")
    assert demos("no-such-section") == []


def test_demo_decorator_registers_and_returns_the_factory():
    def fake_demo(lecture=False):
        return "built"

    try:
        assert demo(section="99", title="Fake")(fake_demo) is fake_demo
        (spec,) = demos("99")
        assert (spec.name, spec.title, spec.factory) == ("fake_demo", "Fake", fake_demo)
        assert spec.build() == "built"
        demo(section="99", title="Fake again")(fake_demo)  # re-registering replaces
        assert [s.title for s in demos("99")] == ["Fake again"]
    finally:
        registry_module._REGISTRY.pop(("99", "fake_demo"), None)


def test_widgets_import_neither_grading_nor_pyplot():
    code = (
        "import sys, course_utils.widgets as w; w.demos('01')[0].build();"
        "print('course_utils.grading' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- every demo of every section ----------------------------------------------------


def test_demo_builds_with_the_common_interface(built):
    d = built
    assert isinstance(d, FigureDemo)
    assert isinstance(d.ui, widgets.Box)
    assert isinstance(d.image, widgets.Image)
    assert png(d).startswith(PNG_MAGIC) and len(png(d)) > 1000
    assert d.controls and all(isinstance(c, widgets.ValueWidget) for c in d.controls.values())
    assert d.caption and html.escape(d.caption) in d.caption_html.value
    assert d.redraw() is None
    # every control, button, the image and the caption are inside the displayed tree
    shown = _descendants(d.ui)
    for w in [*d.controls.values(), *d.buttons.values(), d.image, d.caption_html]:
        assert any(w is s for s in shown)


def _descendants(box):
    out = [box]
    for child in getattr(box, "children", ()):
        out += _descendants(child)
    return out


def test_moving_each_control_changes_the_picture(built):
    d = built
    for name, control in d.controls.items():
        before = png(d)
        control.value = _other_value(control)
        assert png(d).startswith(PNG_MAGIC)
        assert png(d) != before, f"moving {name!r} left the picture unchanged"
        assert d.last_error is None


def test_buttons_click_without_error(built):
    d = built
    for button in d.buttons.values():
        button.click()
        assert d.last_error is None
        assert png(d).startswith(PNG_MAGIC)


def test_lecture_preset_hides_secondary_controls_only(spec, built):
    d = spec.build(lecture=True)
    assert set(type(d).secondary) <= set(d.controls)
    for name, control in d.controls.items():
        hidden = control.layout.display == "none"
        assert hidden == (name in type(d).secondary), name
    assert not any(c.layout.display == "none" for c in built.controls.values())


def test_notebook_display_shows_the_ui(built, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    built._ipython_display_()
    assert shown == [built.ui]


def test_hold_batches_changes_into_one_redraw(built):
    d = built
    renders = []

    def count(change):
        renders.append(change)

    d.image.observe(count, names="value")
    try:
        with d.hold():
            for control in d.controls.values():
                control.value = _other_value(control)
    finally:
        d.image.unobserve(count, names="value")
    assert len(renders) == 1


# --- the base class -----------------------------------------------------------------


class _Broken(FigureDemo):
    fail = False

    def _make_controls(self):
        return {"a": widgets.FloatSlider(value=0.0, min=0.0, max=1.0)}

    def _build_figure(self):
        ax = self.fig.add_axes([0.1, 0.1, 0.8, 0.8])
        (self.line,) = ax.plot([0, 1], [0, 0])
        ax.set_ylim(-1, 2)
        self.live = [self.line]

    def _update(self):
        if self.fail:
            raise RuntimeError("boom")
        self.line.set_ydata([0, self.controls["a"].value])


def test_an_error_in_a_callback_is_shown_and_raised():
    d = _Broken()
    d.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        d.controls["a"].value = 0.5
    assert "boom" in d.readout.value and isinstance(d.last_error, RuntimeError)
    d.fail = False
    d.controls["a"].value = 0.6
    assert d.last_error is None


def test_the_rendered_size_is_fixed():
    d = _Broken()
    sizes = set()
    for v in (0.0, 0.5, 1.0):
        d.controls["a"].value = v
        sizes.add(Image.open(io.BytesIO(png(d))).size)
    assert sizes == {(720, 272)}  # 9 x 3.4 inches at 80 dpi


# --- forward vs reverse KL ----------------------------------------------------------


def test_kl_demo_fits_and_their_asymmetry():
    d = cw.kl_fit_demo()
    d.controls["separation"].value = 5.0
    d.controls["weight"].value = 0.6
    p = d.target
    mean, var = d.forward_fit
    assert mean == pytest.approx(float(p.mean()[0]))
    assert var == pytest.approx(float(p.covariance()[0, 0]))
    # reverse KL from the left mode settles on the left mode, and vice versa
    assert d.reverse_fit[0] == pytest.approx(-2.5, abs=0.05)
    d.controls["start"].value = "right"
    assert d.reverse_fit[0] == pytest.approx(2.5, abs=0.05)
    # each fit wins in the direction it minimises
    (f_pq, f_qp), (r_pq, r_qp) = d.kls["forward"], d.kls["reverse"]
    assert f_pq < r_pq and r_qp < f_qp
    assert all(v >= 0 for v in (f_pq, f_qp, r_pq, r_qp))


def test_kl_demo_merged_modes_give_one_gaussian():
    d = cw.kl_fit_demo()
    d.controls["separation"].value = 0.0
    for fit in ("forward", "reverse"):
        assert max(d.kls[fit]) < 1e-6


def test_kl_demo_result_does_not_depend_on_the_slider_path():
    a, b = cw.kl_fit_demo(), cw.kl_fit_demo()
    for sep in (1.0, 2.0, 3.0, 4.0):
        a.controls["separation"].value = sep
    b.controls["separation"].value = 4.0
    assert a.reverse_fit == pytest.approx(b.reverse_fit, abs=1e-6)


# --- the ELBO ledger ----------------------------------------------------------------


def test_reverse_kl_fit_closes_the_gap_on_the_linear_model():
    d = cw.elbo_ledger_demo()
    assert d.controls["model"].value == "linear"
    assert d.ledger["kl"] > 0.5
    d.buttons["fit_reverse"].click()
    mu, sigma = d.controls["mu"].value, d.controls["sigma"].value
    assert d.model.kl_to_posterior(mu, sigma**2) < 1e-3
    assert d.ledger["kl"] < 1e-3
    assert d.ledger["elbo"] == pytest.approx(d.ledger["log_evidence"], abs=1e-3)
    # the exact posterior of x | z ~ N(z, 0.5), x = 1.5, z ~ N(0, 1): N(1, 1/3)
    assert (mu, sigma) == pytest.approx((1.0, (1 / 3) ** 0.5), abs=1e-3)


def test_forward_kl_fit_matches_the_posterior_moments():
    d = cw.elbo_ledger_demo()
    d.buttons["fit_forward"].click()
    assert d.ledger["kl"] < 1e-3  # a Gaussian posterior: both fits are exact
    d.controls["model"].value = "squared"
    d.buttons["fit_forward"].click()
    assert d.controls["mu"].value == pytest.approx(0.0, abs=1e-6)  # symmetric posterior
    assert d.ledger["kl"] > 0.5


def test_reverse_kl_on_the_bimodal_posterior_takes_one_mode():
    d = cw.elbo_ledger_demo()
    with d.hold():
        d.controls["model"].value = "squared"
        d.controls["mu"].value = 1.0
        d.controls["sigma"].value = 0.5
    d.buttons["fit_reverse"].click()
    assert d.controls["mu"].value == pytest.approx(2.0**0.5, abs=0.15)
    assert 0.3 < d.ledger["kl"] < 1.0  # about log 2: half the posterior is missed


@pytest.mark.parametrize("model", ["linear", "squared"])
@pytest.mark.parametrize("mu", [-3.0, 0.0, 3.0])
@pytest.mark.parametrize("sigma", [0.05, 1.5])
def test_the_ledger_balances_everywhere_on_the_sliders(model, mu, sigma):
    d = cw.elbo_ledger_demo()
    with d.hold():
        d.controls["model"].value = model
        d.controls["mu"].value = mu
        d.controls["sigma"].value = sigma
    total = d.ledger["elbo"] + d.ledger["kl"]
    assert total == pytest.approx(d.ledger["log_evidence"], abs=1e-5)
    assert d.ledger["kl"] >= -1e-9


# --- evidence estimators ------------------------------------------------------------


def test_draw_buttons_add_estimates_and_clear_forgets_them():
    d = cw.evidence_estimator_demo()
    assert d.stats()["n"] == 0
    d.buttons["draw_1"].click()
    assert d.stats()["n"] == 1
    d.buttons["draw_100"].click()
    assert d.stats()["n"] == 101
    d.controls["log2_K"].value = 3
    assert d.K == 8 and d.stats()["n"] == 0  # each (proposal, K) keeps its own draws
    d.controls["log2_K"].value = 0
    assert d.stats()["n"] == 101
    assert "<table" in d.readout.value
    d.buttons["clear"].click()
    assert d.stats()["n"] == 0


def test_the_exact_posterior_proposal_gives_log_evidence_every_time():
    d = cw.evidence_estimator_demo()
    d.controls["proposal"].value = "posterior"
    d.draw(20)
    values = np.asarray(d.history[d.config])
    assert np.allclose(values, d.log_evidence, atol=1e-9)
    assert d.proposals["posterior"].elbo == pytest.approx(d.log_evidence)


def test_a_good_proposal_collapses_the_variance():
    d = cw.evidence_estimator_demo()
    d.draw(200)
    prior = d.stats()
    d.controls["proposal"].value = "q"
    d.draw(200)
    q = d.stats()
    assert prior["sd"] > 5 * q["sd"]
    # biased low at K = 1: the mean estimate is the ELBO, below log p(x)
    assert prior["mean"] < d.log_evidence
    elbo = d.proposals["q"].elbo
    assert abs(q["mean"] - elbo) < 4 * q["sd"] / np.sqrt(200)
    # more samples per estimate: smaller spread
    d.controls["log2_K"].value = 6
    d.draw(200)
    assert d.stats()["sd"] < 0.5 * q["sd"]


def test_estimates_are_reproducible_for_a_seed():
    a, b = cw.evidence_estimator_demo(seed=3), cw.evidence_estimator_demo(seed=3)
    a.draw(5)
    b.draw(5)
    assert a.history == b.history
