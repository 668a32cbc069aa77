"""Exercises, their checks, and the one-line results students read.

An :class:`Exercise` names the function a student writes, its points, and a check:
a function that calls the student's code on random and edge-case inputs,
compares with the reference implementation, and raises :class:`CheckFailed`
with a sentence that teaches when something is off. :func:`run_check` turns
whatever happens (a pass, a wrong value, an exception, an unfinished stub) into
a :class:`Result`; it never raises.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field

from ..core.registry import Registry, defined_by, section_id

__all__ = [
    "CheckFailed",
    "StudentError",
    "Exercise",
    "Result",
    "register",
    "exercises",
    "sections",
    "run_check",
    "grade_namespace",
    "ReferenceUsed",
    "reference_guard",
    "current_exercise",
    "KINDS",
]


class CheckFailed(AssertionError):
    """Raised by a check with the message the student should read."""


class ReferenceUsed(CheckFailed):  # noqa: N818 - reads as what happened
    """The student's function called the course's own answer to the exercise it is graded on."""


class StudentError(Exception):
    """An exception the student's function raised where the grader ran it (another process).

    Only its type's name and message cross over; the grader never unpickles the
    student's objects.
    """

    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    Attributes:
        id: "S.N", e.g. "1.3" (S is the section number without leading zero).
        section: the notebook's two-digit section, e.g. "01".
        title: a few words shown in result lines and score tables.
        points: the points a correct answer earns.
        function: the name of the function the student defines.
        check: calls the student's function; raises CheckFailed on a wrong answer.
        hint: the stub's NotImplementedError text in the exercise notebook.
        reference: the course's implementation the check compares with (its docstring names the
            exercise back).
        kind: what the exercise asks for, one of :data:`KINDS` (the exercise cell's metadata says the same).
        hints: the tiers after ``hint``, most telling last (only the last may state the formula); the
            notebook's ``hint("N.M")`` gives one more each time it is called.
    """

    id: str
    section: str
    title: str
    points: int
    function: str
    check: Callable[[Callable], None] = field(repr=False)
    hint: str = ""
    reference: Callable | None = field(default=None, repr=False, compare=False)
    kind: str = "warm-up"
    hints: tuple[str, ...] = ()

    @property
    def tiers(self) -> tuple[str, ...]:
        """Every hint, in the order ``hint("N.M")`` gives them: the stub's message first."""
        return tuple(h for h in (self.hint, *self.hints) if h)


STATUSES = ("passed", "failed", "not attempted", "missing")

#: What an exercise asks for: recall a given formula (warm-up), assemble one from the notebook's
#: ingredients (build), write a training step (training-step), repair a provided function with one
#: realistic mistake (find-the-bug), or answer with a number or a choice before measuring (predict).
KINDS = ("warm-up", "build", "training-step", "find-the-bug", "predict")

# The exercise whose check is running (its hidden inputs depend on it; see compare.hidden_seed).
_current: ContextVar[str] = ContextVar("exercise", default="")


def current_exercise() -> str:
    """The id of the exercise whose check is running in this thread ("" outside a check)."""
    return _current.get()


def _code_objects(reference) -> set:
    """The code objects of a reference: a function's own, or every method of a class (unwrapped)."""
    targets = [reference] if not inspect.isclass(reference) else list(vars(reference).values())
    codes = set()
    for target in targets:
        target = inspect.unwrap(getattr(target, "__func__", target))
        code = getattr(target, "__code__", None)
        if code is not None:
            codes.add(code)
    return codes


def reference_name(reference) -> str:
    """``module.function`` as a student would find it, e.g. ``divergences.kl_discrete``."""
    return f"{reference.__module__.rsplit('.', 1)[-1]}.{reference.__qualname__}"


def reference_message(reference) -> str:
    return (f"your function calls course_utils' reference answer `{reference_name(reference)}`: write your own "
            "(the course's answers to the other exercises, and the provided functions, are yours to use)")


class reference_guard:  # noqa: N801 - used like a function: ``with reference_guard(ref) as seen``
    """Notice any call of ``reference`` (by any alias, or through a copy of its code) while the block runs.

    A profiler (``sys.setprofile``, and ``threading.setprofile`` for threads the block starts) sees
    every Python call; after the block, ``seen`` says whether the reference's code ran and
    ``tampered`` whether the block replaced the profiler. Noticing, not raising inside the
    student's code, means a ``try``/``except`` around the call cannot hide it.
    """

    def __init__(self, reference):
        self.codes = _code_objects(reference) if reference is not None else set()
        self.seen = False
        self.tampered = False

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_code in self.codes:
            self.seen = True

    def __enter__(self):
        if self.codes:
            self._saved = sys.getprofile()
            sys.setprofile(self._profile)
            threading.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        if self.codes:
            self.tampered = sys.getprofile() != self._profile
            sys.setprofile(self._saved)
            threading.setprofile(None)
        return False


class _Guarded:
    """The student's function as a check sees it in a notebook: each call is watched by a reference guard."""

    def __init__(self, fn, reference):
        self.fn, self.reference = fn, reference
        self.__name__ = getattr(fn, "__name__", "function")

    def __call__(self, *args, **kwargs):
        guard = reference_guard(self.reference)
        try:
            with guard:
                value = self.fn(*args, **kwargs)
        except BaseException:
            if guard.seen:
                raise ReferenceUsed(reference_message(self.reference)) from None
            raise
        if guard.seen:
            raise ReferenceUsed(reference_message(self.reference))
        if guard.tampered:
            raise CheckFailed("your function switched off the interpreter's profiler (sys.setprofile), "
                              "which the grader uses to watch for calls of the reference answer")
        return value


_OTHER_STUB = re.compile(r"^Exercise (\d+\.\d+):")


def _not_attempted_message(exercise: Exercise, err: BaseException) -> tuple[str, str]:
    """(status, message) for a NotImplementedError: this exercise's own stub, or another exercise's."""
    while err is not None and not isinstance(err, NotImplementedError):
        err = err.__cause__ or err.__context__
    match = _OTHER_STUB.match(str(err)) if err is not None else None
    if match and match.group(1) != exercise.id:
        other = match.group(1)
        return "failed", (f"your function calls your answer to exercise {other}, which still raises "
                          f"NotImplementedError: finish exercise {other} first (or compute that part here)")
    return "not attempted", "the stub still raises NotImplementedError"


@dataclass(frozen=True)
class Result:
    """The outcome of one exercise's check."""

    id: str
    title: str
    points: int
    max_points: int
    status: str
    message: str = ""

    def line(self) -> str:
        """The single line a student sees, e.g. 'Exercise 1.3 (2 pts): passed'."""
        unit = "pt" if self.max_points == 1 else "pts"
        if self.status == "passed":
            return f"Exercise {self.id} ({self.max_points} {unit}): passed"
        head = f"Exercise {self.id} ({self.points}/{self.max_points} {unit})"
        if self.status == "not attempted":
            return f"{head}: not attempted yet"
        return f"{head}: {self.status}: {self.message}" if self.message else f"{head}: {self.status}"

    def to_dict(self) -> dict:
        return asdict(self)


def _sort_key(exercise_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in exercise_id.split("."))


#: Every registered exercise, by id.
EXERCISES: Registry[Exercise] = Registry(
    "exercise", key=lambda e: e.id, order=lambda e: _sort_key(e.id),
    origin=lambda e: defined_by(e.check, e.section, e.title, e.points, e.function, e.hint),
)


def register(
    id: str, section: str, title: str, points: int, function: str, hint: str, *, reference: Callable | None = None,
    kind: str = "warm-up", hints: tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    """Decorator that registers a check function as exercise ``id``; ``reference`` is what the check compares with.

    ``kind``: one of :data:`KINDS`; ``hints``: the tiers after the stub's ``hint``, most telling last.
    """
    if kind not in KINDS:
        raise ValueError(f"exercise {id}: kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def wrap(check: Callable) -> Callable:
        EXERCISES.add(Exercise(id, section_id(section), title, points, function, check, hint, reference, kind,
                               tuple(hints)))
        return check

    return wrap


def exercises(section: str | None = None) -> list[Exercise]:
    """All registered exercises (of one section), in id order."""
    return EXERCISES.all(section)


def sections() -> list[str]:
    """The sections that have exercises, in order."""
    return EXERCISES.sections()


def get(exercise_id: str) -> Exercise:
    """The exercise ``exercise_id`` ("1.3"); a KeyError lists the known ones."""
    return EXERCISES.get(exercise_id)


def _raised_not_implemented(err: BaseException) -> bool:
    while err is not None:
        if isinstance(err, NotImplementedError):
            return True
        err = err.__cause__ or err.__context__
    return False


def run_check(exercise: Exercise, fn, capture_output: bool = True) -> Result:
    """Run one exercise's check on ``fn``; never raises an ``Exception``.

    ``capture_output`` hides what the student's function prints while it is checked
    (in a notebook). The class grader passes False: its functions run in another
    process, and swapping ``sys.stdout`` is not safe across its threads. A
    ``BaseException`` that is not an ``Exception`` (the grader's own "the sandbox
    died") passes through.
    """

    def result(points: int, status: str, message: str = "") -> Result:
        return Result(exercise.id, exercise.title, points, exercise.points, status, message)

    if fn is None:
        return result(0, "missing", f"no function named {exercise.function}() was found")
    if not callable(fn):
        return result(0, "failed", f"{exercise.function} should be a function, got {type(fn).__name__}")
    if exercise.reference is not None and not hasattr(fn, "call_with_grad"):
        fn = _Guarded(fn, exercise.reference)  # a remote function is guarded in its sandbox
    token = _current.set(exercise.id)
    try:
        with contextlib.redirect_stdout(io.StringIO()) if capture_output else contextlib.nullcontext():
            exercise.check(fn)
    except CheckFailed as err:
        return result(0, "failed", str(err))
    except StudentError as err:
        if _raised_not_implemented(err) or err.type_name == "NotImplementedError":
            return result(0, *_not_attempted_message(exercise, NotImplementedError(str(err))))
        return result(0, "failed", f"your function raised {err.type_name}: {err}")
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any error in student code becomes feedback
        if _raised_not_implemented(err):
            return result(0, *_not_attempted_message(exercise, err))
        return result(0, "failed", f"your function raised {type(err).__name__}: {err}")
    finally:
        _current.reset(token)
    return result(exercise.points, "passed")


def grade_namespace(section: str, namespace: dict) -> list[Result]:
    """Check every exercise of ``section`` against the functions found in ``namespace``."""
    return [run_check(e, namespace.get(e.function)) for e in exercises(section)]
