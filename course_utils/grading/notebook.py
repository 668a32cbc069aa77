"""What a student calls in a notebook: ``check`` after each exercise, ``score_table`` at the end.

These print for the student; the grade command never reads what they print
(it runs the checks itself, see :mod:`course_tools.grade`).
"""

from __future__ import annotations

from .core import Result, exercises, get, run_check

__all__ = ["check", "score_table"]

# Results of the checks run in this kernel, by exercise id (the latest run wins).
_results: dict[str, Result] = {}


def check(exercise_id: str, fn) -> None:
    """Check the student's ``fn`` for exercise ``exercise_id`` and print one line."""
    result = run_check(get(exercise_id), fn)
    _results[exercise_id] = result
    print(result.line())


def score_table(section: str) -> None:
    """Print this notebook's exercises with their points so far."""
    rows = []
    for ex in exercises(section):
        r = _results.get(ex.id)
        status = r.status if r else "not checked yet"
        rows.append((ex.id, ex.title, f"{r.points if r else 0}/{ex.points}", status))
    total = sum(_results[e.id].points for e in exercises(section) if e.id in _results)
    max_total = sum(e.points for e in exercises(section))
    width = max(len(t) for _, t, _, _ in rows)
    print(f"Section {section} score: {total}/{max_total} points")
    for ex_id, title, pts, status in rows:
        print(f"  {ex_id:<5} {title:<{width}}  {pts:>5}  {status}")
