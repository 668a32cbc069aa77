"""Fixtures shared by the unit tests (helpers.py holds shared functions)."""

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
    from course_utils.training import one_thread

    with one_thread():
        yield
