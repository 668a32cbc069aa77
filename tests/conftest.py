"""Fixtures shared by the tests (helpers.py holds shared functions; the root conftest.py gives the markers)."""

import pytest
import torch


@pytest.fixture
def float64():
    """Work in float64 (tests that compare with closed forms to 1e-9), and restore the default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread: on small tensors that is faster, much faster on a busy machine."""
    from course_utils.core.threads import one_thread

    with one_thread():
        yield


@pytest.fixture
def no_new_pyplot_figures():
    """A figure function returns its figure closed in pyplot: none is left open behind it."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


@pytest.fixture
def empty_model_registry(monkeypatch):
    """An empty registry of trained models for the test (the course's own are never trained), discovery off;
    the real one is back after the test."""
    from course_utils.core import trained

    empty = trained.MODELS.copy()
    for spec in empty.all():
        empty.remove(spec.name)
    monkeypatch.setattr(trained, "MODELS", empty)
    monkeypatch.setattr(trained, "discover", lambda *a, **k: [])
    return empty


class _DemosOfASection:
    """``built["kl_fit_demo"]``: the demo, built once per test run, with its controls at their start values."""

    def __init__(self, section, cache):
        self.section, self.cache = section, cache

    def __getitem__(self, name):
        from course_utils.ui.demos import DEMOS, section_id

        key = (section_id(self.section), name)
        if key not in self.cache:
            demo = DEMOS.get(key).build()
            self.cache[key] = (demo, demo.values)
        demo, start = self.cache[key]
        with demo.hold():
            for control, value in start.items():
                demo.controls[control].value = value
        assert demo.last_error is None
        return demo


@pytest.fixture(scope="session")
def _built_demos():
    """Every demo the tests ask for, built once per test run (per xdist worker). Demos that train their own
    models (widgets modules with DEMO_STEPS) train a fifth of their steps for the whole run."""
    from helpers import small_demo_models

    with small_demo_models():
        yield {}


@pytest.fixture
def course_demos(_built_demos):
    """``course_demos("07")["ddim_eta_demo"]``: a registered demo built once per test run, its controls reset."""
    return lambda section: _DemosOfASection(section, _built_demos)


@pytest.fixture
def built(request, course_demos):
    """In a section's test folder (tests/s07_ddpm/): ``built["ddim_eta_demo"]``, that section's demos as
    :func:`course_demos` gives them."""
    from course_utils.core.registry import SECTION_FOLDER

    section = next(m.group(1) for part in request.path.parts if (m := SECTION_FOLDER.match(part)))
    return course_demos(section)
