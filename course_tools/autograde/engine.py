"""Grade one submitted notebook: its exercise cells in a sandbox, the checks here.

The points come only from checks this process runs, on inputs it draws, against
references it computes. The sandbox (another process, see :mod:`.sandbox`) runs
the section's provided cells with the student's exercise cells in place and
answers calls to the student's functions. One misbehaving exercise costs only
its own points: when a cell hangs or kills the sandbox during setup, that cell
is left out and the sandbox restarts; when a function does during its check,
that exercise scores 0 and the sandbox restarts for the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from course_utils.grading import Result, exercises, run_check
from course_utils.grading.compare import for_student

from .flags import tampering
from .sandbox import DEFAULT_LIMITS, Limits, Sandbox, SandboxDied, sandbox_name
from .submission import SubmissionError, program, read_submission

__all__ = ["Report", "grade_submission"]


@dataclass
class Report:
    """The grade of one notebook. ``exercises`` holds one ``Result.to_dict()`` per exercise."""

    notebook: str
    section: str | None
    exercises: list[dict] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)
    #: what the student's code ran in: "bubblewrap 0.8.0", "none (--unsandboxed)", or "" (nothing ran)
    sandbox: str = ""
    #: when it was handed in (ISO 8601 with its offset), where the platform says; set by the class grader
    submitted: str | None = None
    #: the platform marked it late (Canvas writes LATE in the file's name)
    late_marked: bool = False

    @property
    def total(self) -> int:
        return sum(e["points"] for e in self.exercises)

    @property
    def max_total(self) -> int:
        return sum(e["max_points"] for e in self.exercises)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "section": self.section,
            "exercises": self.exercises,
            "total": self.total,
            "max_total": self.max_total,
            "error": self.error,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "flags": self.flags,
            "sandbox": self.sandbox,
            "submitted": self.submitted,
            "late_marked": self.late_marked,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Report:
        return cls(d["notebook"], d["section"], d["exercises"], d["error"], d.get("notes", []), d["seconds"],
                   d.get("flags", []), d.get("sandbox", ""), d.get("submitted"), d.get("late_marked", False))


def _zero(ex, status: str, message: str) -> Result:
    return Result(ex.id, ex.title, 0, ex.points, status, message)


def _culprit(steps, at_step: int | None) -> str | None:
    """The exercise whose cell was running, or ran last, when the sandbox died in setup."""
    if at_step is None:
        return None
    for step in reversed(steps[: at_step + 1]):
        if step.kind == "exercise":
            return step.exercise
    return None


def _check_all(sub, limits: Limits, unsandboxed: bool, results: dict, notes: list, student: str) -> str | None:
    """Fill ``results`` for every exercise with a cell; returns an error for the whole notebook, or None."""
    skip: set[str] = set()
    todo = [ex for ex in exercises(sub.section) if ex.id in sub.regions]
    while todo:
        steps = program(sub.section, sub.regions, frozenset(skip))
        try:
            box = Sandbox(limits, unsandboxed)
        except SandboxDied as died:
            return died.reason
        with box:
            try:
                ready = box.setup(steps)
            except SandboxDied as died:
                culprit = _culprit(steps, died.at_step)
                if culprit is None:
                    return f"the notebook's provided cells did not run in the sandbox: {died.reason}"
                ex = next(e for e in todo if e.id == culprit)
                results[culprit] = _zero(ex, "failed", f"running your cell stopped the grader: {died.reason}")
                skip.add(culprit)
                todo.remove(ex)
                continue
            while todo:
                ex = todo.pop(0)
                info = ready.get(ex.id) or {}
                error = info.get("error")
                if not info.get("defined"):
                    why = f"your cell did not define {ex.function}()"
                    results[ex.id] = _zero(ex, "missing", f"{why}: it raised {error}" if error else why)
                    continue
                if error:
                    notes.append(f"your cell for exercise {ex.id} raised {error}; {ex.function}() was graded anyway")
                try:
                    with for_student(student):
                        results[ex.id] = run_check(ex, box.function(ex.id), capture_output=False)
                except SandboxDied as died:
                    results[ex.id] = _zero(ex, "failed", f"checking your function stopped the grader: {died.reason}")
                    break  # a fresh sandbox for the rest
    return None


def grade_submission(data: bytes, name: str, section: str | None = None, limits: Limits = DEFAULT_LIMITS,
                     protect: tuple = (), student: str = "", unsandboxed: bool = False) -> Report:
    """Grade one notebook's bytes. ``section``: the section expected (None: the notebook's own).

    ``protect``: ignored, kept for old callers (the sandbox sees none of the grader's folders).
    ``unsandboxed``: run the cells without bubblewrap (see :class:`.sandbox.Sandbox`); otherwise a
    machine without a working sandbox raises :class:`.sandbox.SandboxUnavailable`.
    ``student``: whose notebook it is; the checks' hidden inputs are drawn for them (see
    ``grading.compare.hidden_seed``), so a classmate's outputs or ones hard-coded from feedback fail.

    Never raises for anything a submission contains; the report says what went wrong.
    """
    start = time.perf_counter()
    try:
        sub = read_submission(data, name, section)
    except SubmissionError as err:
        rows = [_zero(ex, "not graded", str(err)).to_dict() for ex in exercises(section)] if section else []
        return Report(name, section, rows, error=str(err), seconds=time.perf_counter() - start)
    results: dict[str, Result] = {}
    for ex in exercises(sub.section):
        if ex.id in sub.missing:
            results[ex.id] = _zero(ex, "missing", sub.missing[ex.id])
    notes = list(sub.notes)
    error = _check_all(sub, limits, unsandboxed, results, notes, student)
    rows = [(results.get(ex.id) or _zero(ex, "not graded", error or "not graded")).to_dict()
            for ex in exercises(sub.section)]
    flags = [f"{ex_id}: {flag}" for ex_id, code in sub.regions.items() for flag in tampering(code)]
    return Report(name, sub.section, rows, error=error, notes=notes, seconds=time.perf_counter() - start,
                  flags=flags, sandbox=sandbox_name(unsandboxed))
