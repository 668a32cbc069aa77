"""Every registered demo of every section (course_utils.ui.demos, course_utils.ui.base): behaviour only, no
timings (``make bench`` times the redraws).

Each demo is built, each control and button is exercised, and the lecture preset and hold() are checked.
Each section's own demos are checked against their math in tests/sNN_slug/test_widgets.py.
"""

import html
import importlib
import io

import ipywidgets as widgets
import pytest
from helpers import PNG_MAGIC, png
from helpers import other_value as _other_value
from PIL import Image

from course_utils.core.registry import section_packages
from course_utils.ui.base import FigureDemo
from course_utils.ui.demos import DEMOS, DemoSpec, demo, demos

SPECS = demos()


@pytest.fixture(params=SPECS, ids=[f"{s.section}/{s.name}" for s in SPECS])
def spec(request):
    return request.param


@pytest.fixture
def built(spec, course_demos):
    """The spec's demo, built once per test run; each test gets it with its controls back at their start values
    (a control's effect may depend on the others: at 1 DDIM step, eta changes nothing)."""
    return course_demos(spec.section)[spec.name]


# --- registry -----------------------------------------------------------------------


def test_every_demo_is_well_formed_and_exported_by_its_sections_widgets():
    assert SPECS
    for s in SPECS:
        assert isinstance(s, DemoSpec)
        assert len(s.section) == 2 and s.section.isdigit() and s.title and callable(s.factory)
        widgets_module = importlib.import_module(f"{section_packages()[s.section]}.widgets")
        assert getattr(widgets_module, s.name) is s.factory  # from course_utils.s01_kl_elbo.widgets import ...


def test_demos_without_section_lists_every_section_in_order():
    sections = sorted({s.section for s in SPECS})
    assert SPECS == [s for section in sections for s in demos(section)]
    for section in sections:
        orders = [s.order for s in demos(section)]
        assert orders == sorted(orders)
    assert demos("1") == demos("01")
    assert demos("99") == []  # a section with no demos
    with pytest.raises(ValueError, match="a section is a number"):
        demos("no-such-section")


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
        DEMOS.remove(("99", "fake_demo"))


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
