"""The sandbox answers calls exactly as the function would in-process, and dies cleanly."""

from __future__ import annotations

import pytest
import torch

from course_tools.autograde.sandbox import Limits, Sandbox, SandboxDied
from course_tools.autograde.submission import Step
from course_utils.grading import CheckFailed, StudentError
from course_utils.grading.compare import call_with_grad

pytestmark = pytest.mark.integration

CODE = '''
import torch
def f(x, net, w):
    return (net(x) * w).sum(-1)
def lies(x):
    class Eq:
        def __eq__(self, other):
            return True
    return Eq()
def boom(x):
    raise ValueError("no " + str(x))
def todo(x):
    raise NotImplementedError("Exercise 9.9: later")
'''


def _f(x, net, w):
    return (net(x) * w).sum(-1)


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(setup_s=30, check_s=10)) as sandbox:
        steps = [Step("exercise", CODE, name, name) for name in ("f", "lies", "boom", "todo")]
        ready = sandbox.setup(steps)
        assert all(ready[name]["defined"] for name in ("f", "lies", "boom", "todo"))
        yield sandbox


def test_remote_gradients_match_in_process_ones_for_tensors_and_module_parameters(box):
    torch.manual_seed(0)
    x, w, net = torch.randn(5, 3), torch.randn(2), torch.nn.Linear(3, 2)
    cot = torch.randn(5)
    local_value, local = call_with_grad(_f, x, net, w, wrt=(0, 1, 2), cotangent=cot)
    remote_value, remote = call_with_grad(box.function("f"), x, net, w, wrt=(0, 1, 2), cotangent=cot)
    assert torch.allclose(remote_value, local_value)
    assert torch.allclose(remote[0], local[0]) and torch.allclose(remote[2], local[2])
    assert len(remote[1]) == 2 and all(torch.allclose(a, b) for a, b in zip(remote[1], local[1], strict=True))


def test_a_non_scalar_output_without_cotangent_has_no_gradient(box):
    value, grads = call_with_grad(box.function("f"), torch.randn(4, 3), torch.nn.Linear(3, 2), torch.ones(2),
                                  wrt=(0,))
    assert grads is None and value.shape == (4,)


def test_objects_never_cross_errors_do(box):
    with pytest.raises(CheckFailed, match="got Eq"):
        box.function("lies")(torch.ones(1))
    with pytest.raises(StudentError, match="no 3") as err:
        box.function("boom")(3)
    assert err.value.type_name == "ValueError"
    with pytest.raises(NotImplementedError, match="later"):
        box.function("todo")(1)


def test_a_hanging_cell_is_named_by_its_step():
    with Sandbox(Limits(setup_s=3)) as sandbox:
        steps = [Step("provided", "x = 1"), Step("exercise", "while True:\n    pass\n", "1.1", "g")]
        with pytest.raises(SandboxDied) as died:
            sandbox.setup(steps)
    assert died.value.at_step == 1 and "3 s to run the notebook's cells" in died.value.reason
