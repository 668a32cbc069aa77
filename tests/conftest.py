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
    from course_utils.core.registry import Registry, defined_by

    empty = Registry("model", key=lambda s: s.name, order=lambda s: (s.section, s.name),
                     origin=lambda s: defined_by(s.factory))
    monkeypatch.setattr(trained, "MODELS", empty)
    monkeypatch.setattr(trained, "discover", lambda *a, **k: [])
    return empty
