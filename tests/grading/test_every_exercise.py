"""Every exercise of every section against the same robustness cases: the course's solution passes; a
stub, a crash, a wrong signature, a missing function, odd return types, lying objects, NaN, infinities,
a wrong shape and a function that overwrites its arguments all fail cleanly, with 0 points, never a raise.

The right shapes come from the course's own solution of each exercise (helpers.course_solutions), so no
list of shapes is kept by hand: a new exercise is covered as soon as it is registered.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from helpers import assert_fails, assert_passes_for_secrets, course_solutions, grade, grading_secret, torch_state_kept

from course_utils.grading import Result, exercises, get, run_check

EXERCISES = [e.id for e in exercises()]

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


@pytest.fixture(autouse=True)
def _torch_state():
    with torch_state_kept():
        yield


def solution(ex_id: str):
    return course_solutions(get(ex_id).section)[ex_id]


def test_every_section_has_exercises():
    assert {e.section for e in exercises()} == {"01", "02", "03", "04", "05", "06", "07"}


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_the_course_solution_passes(ex_id):
    r = grade(ex_id, solution(ex_id))
    assert (r.status, r.points, r.message) == ("passed", get(ex_id).points, ""), r.line()


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_the_course_solution_passes_under_every_secret(ex_id):
    """An instructor's private secret (and each student's own inputs) never fails a correct answer."""
    assert_passes_for_secrets(ex_id, solution(ex_id))


def test_hidden_inputs_differ_by_secret_student_and_exercise_and_not_in_a_notebook():
    from course_utils.grading.compare import for_student, hidden_seed, set_hidden_salt
    from course_utils.grading.core import _current

    assert hidden_seed(11) == 11  # a notebook: the seed written in the check
    seeds = set()
    for secret in ("a", "b"):
        for student in ("alice", "bob"):
            for exercise in ("1.1", "1.2"):
                with grading_secret(secret, student):
                    token = _current.set(exercise)
                    seeds.add(hidden_seed(11))
                    _current.reset(token)
    assert len(seeds) == 8
    set_hidden_salt(0)
    with for_student("alice"):
        assert hidden_seed(11) != 11  # a student's inputs are hidden even without a secret


# --- stubs, crashes, signatures, missing functions ----------------------------------------------------


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_unfinished_stub_is_not_attempted(ex_id):
    def stub(*args):
        raise NotImplementedError(get(ex_id).hint)

    r = grade(ex_id, stub)
    assert (r.status, r.points) == ("not attempted", 0)
    assert r.line().endswith("not attempted yet")


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_other_errors_fail_with_the_error_type(ex_id):
    def crashes(*args):
        raise ValueError("shapes do not line up")

    r = assert_fails(ex_id, crashes)
    assert "ValueError" in r.message and "shapes do not line up" in r.message, r.message


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_wrong_number_of_arguments_fails(ex_id):
    n = len(inspect.signature(solution(ex_id)).parameters)
    wrong = (lambda x: x) if n > 1 else (lambda x, y: x)
    r = assert_fails(ex_id, wrong)
    assert "TypeError" in r.message


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_missing_function(ex_id):
    r = grade(ex_id, None)
    assert (r.status, r.points) == ("missing", 0)
    assert get(ex_id).function in r.message


# --- odd return values: a clean failure, never a raise ----------------------------------------------


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class EqualTensor(torch.Tensor):
    """A tensor that claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class LyingTensor(torch.Tensor):
    """A tensor every torch function of which answers True (allclose included)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


def _map_tensors(value, f):
    """``value`` (a tensor, or tuples, lists and dicts of them) with ``f`` applied to every tensor."""
    if isinstance(value, torch.Tensor):
        return f(value.detach())
    if isinstance(value, (tuple, list)):
        return type(value)(_map_tensors(v, f) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, f) for k, v in value.items()}
    return f(torch.as_tensor(value, dtype=torch.float64))


def _like_the_solution(f):
    """A student function for exercise ex_id returning the solution's answer with ``f`` applied to each tensor:
    the right shapes and types, wrong contents."""

    def for_exercise(ex_id):
        right = solution(ex_id)
        return lambda *args: _map_tensors(right(*args), f)

    return for_exercise


WEIRD = {
    "a string": lambda ex_id: lambda *a: "0.5",
    "None": lambda ex_id: lambda *a: None,
    "a list of strings": lambda ex_id: lambda *a: ["a", "b"],
    "an object equal to everything": lambda ex_id: lambda *a: AlwaysEqual(),
    "a pair of objects equal to everything": lambda ex_id: lambda *a: (AlwaysEqual(), AlwaysEqual()),
    "a tensor subclass equal to everything": _like_the_solution(lambda t: torch.zeros_like(t).as_subclass(EqualTensor)),
    "a tensor subclass whose torch functions all say True":
        _like_the_solution(lambda t: torch.zeros_like(t).as_subclass(LyingTensor)),
    "nan of the right shape": _like_the_solution(lambda t: torch.full_like(t, float("nan"), dtype=torch.float64)),
    "inf of the right shape": _like_the_solution(lambda t: torch.full_like(t, float("inf"), dtype=torch.float64)),
    "complex numbers": _like_the_solution(lambda t: torch.zeros_like(t, dtype=torch.complex128)),
    "the right values with an extra axis": _like_the_solution(lambda t: t.unsqueeze(-1)),
    "a generator": lambda ex_id: lambda *a: (x for x in range(2)),
    "a dict": lambda ex_id: lambda *a: {"mean": 0.0, "var": 1.0},
    "a class instead of a value": lambda ex_id: lambda *a: torch.Tensor,
}


@pytest.mark.parametrize("ex_id", EXERCISES)
@pytest.mark.parametrize("kind", list(WEIRD))
def test_weird_return_values_fail_cleanly(ex_id, kind):
    r = run_check(get(ex_id), WEIRD[kind](ex_id))
    assert isinstance(r, Result)
    assert (r.status, r.points) == ("failed", 0), r.line()
    assert r.message
    assert r.line().startswith(f"Exercise {ex_id} (0/")


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_a_student_function_that_mutates_the_callable_arguments_still_gets_a_result(ex_id):
    def fn(*args):
        for a in args:
            if isinstance(a, torch.Tensor) and not a.requires_grad:
                a.fill_(float("nan"))
        return 0.0

    r = run_check(get(ex_id), fn)
    assert (r.status, r.points) == ("failed", 0)


# --- from a check to its reference and back --------------------------------------------------------

VIEWS = (".plots", ".widgets", ".checks", ".models", "course_utils.ui", "course_utils.grading")


@pytest.mark.parametrize("ex_id", EXERCISES)
def test_each_check_names_its_reference_and_the_reference_names_the_exercise(ex_id):
    from course_tools.build import find_sources

    e = get(ex_id)
    reference = inspect.unwrap(e.reference)
    assert inspect.isfunction(reference), f"exercise {ex_id}: register(..., reference=) names no function"
    assert reference.__module__.startswith("course_utils.") and not any(v in reference.__module__ for v in VIEWS)
    notebook = next(s.name for s in find_sources() if s.section == e.section)
    assert f"Graded in exercise {ex_id} (notebook ``{notebook}``)." in " ".join(reference.__doc__.split())
    assert f"Exercise {ex_id}: compares with :func:`~{reference.__module__}.{reference.__name__}`" in e.check.__doc__


def test_every_graded_in_note_belongs_to_a_registered_exercise():
    import re

    from course_tools import ROOT

    linked = {e.id for e in exercises()}
    for path in (ROOT / "course_utils").rglob("*.py"):
        for ex_id in re.findall(r"Graded in exercises? (\d+\.\d+)", path.read_text()):
            assert ex_id in linked, f"{path.relative_to(ROOT)} names exercise {ex_id}, which is not registered"


# --- no shortcut through the reference ------------------------------------------------------------------


def _aliases(reference) -> list[str]:
    """Every ``module.name`` under course_utils that is this very function (the legacy names included)."""
    import importlib
    import pkgutil

    import course_utils

    found = []
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        if any(v in info.name for v in (".plots", ".widgets")):
            continue
        module = importlib.import_module(info.name)
        found += [f"{info.name}.{k}" for k, v in vars(module).items() if v is reference]
    return found


def _drop_in(ex_id: str) -> bool:
    """Whether the reference takes the student's arguments as they are (else its signature is the library's)."""
    n = len(inspect.signature(solution(ex_id)).parameters)
    params = list(inspect.signature(get(ex_id).reference).parameters.values())
    return len(params) >= n and all(p.default is not p.empty for p in params[n:])


DROP_IN = [i for i in EXERCISES if _drop_in(i)]


def test_most_references_take_the_students_arguments():
    assert len(DROP_IN) >= 25, DROP_IN


@pytest.mark.parametrize("ex_id", DROP_IN)
def test_calling_the_reference_under_any_of_its_names_scores_zero_and_says_so(ex_id):
    import importlib
    import types

    e = get(ex_id)
    aliases = _aliases(e.reference)
    assert aliases, f"the reference of {ex_id} is importable from course_utils"
    for alias in aliases:
        module, name = alias.rsplit(".", 1)
        ref = getattr(importlib.import_module(module), name)
        r = assert_fails(ex_id, lambda *a, ref=ref: ref(*a), "calls course_utils' reference answer")
        assert f"`{e.reference.__module__.rsplit('.', 1)[-1]}.{e.reference.__name__}`" in r.message
    # a try/except around the call, or a copy of the reference's code, is caught too
    copy = types.FunctionType(e.reference.__code__, e.reference.__globals__, "mine", e.reference.__defaults__,
                              e.reference.__closure__)

    def hides(*a):
        try:
            copy(*a)
        except Exception:  # noqa: BLE001 - whatever the copy raises, answer with an honest result
            pass
        return solution(ex_id)(*a)

    assert_fails(ex_id, hides, "calls course_utils' reference answer")
