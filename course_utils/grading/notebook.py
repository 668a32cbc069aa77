"""What a student calls in a notebook: ``check`` after each exercise, ``hint`` when stuck, ``score_table`` at the end.

These print for the student; the grade command never reads what they print
(it runs the checks itself, see :mod:`course_tools.grade`).
"""

from __future__ import annotations

from .core import Result, exercises, get, run_check

__all__ = ["check", "hint", "score_table"]

# Results of the checks run in this kernel, by exercise id (the latest run wins).
_results: dict[str, Result] = {}
# How many hints each exercise has given in this kernel.
_hints_used: dict[str, int] = {}


def check(exercise_id: str, fn) -> None:
    """Check the student's ``fn`` for exercise ``exercise_id`` and print one line."""
    result = run_check(get(exercise_id), fn)
    _results[exercise_id] = result
    print(result.line())


def hint(exercise_id: str) -> None:
    """Print the next hint for exercise ``exercise_id``: each call tells more, the last the formula itself.

    The number of hints used shows in the score table, as information, never as a penalty.
    """
    tiers = get(exercise_id).tiers
    used = _hints_used.get(exercise_id, 0)
    if used >= len(tiers):
        print(f"Exercise {exercise_id}: no more hints (that was all {len(tiers)}).")
        return
    _hints_used[exercise_id] = used + 1
    print(f"Exercise {exercise_id}, hint {used + 1} of {len(tiers)}: {tiers[used]}")


def score_table(section: str) -> None:
    """Print this notebook's exercises with their kind, points so far and hints used."""
    rows = []
    for ex in exercises(section):
        r = _results.get(ex.id)
        status = r.status if r else "not checked yet"
        used = _hints_used.get(ex.id, 0)
        rows.append((ex.id, ex.title, ex.kind, f"{r.points if r else 0}/{ex.points}", f"{used}/{len(ex.tiers)}",
                     status))
    total = sum(_results[e.id].points for e in exercises(section) if e.id in _results)
    max_total = sum(e.points for e in exercises(section))
    width = max(len(row[1]) for row in rows)
    kind_width = max(len(row[2]) for row in rows)
    print(f"Section {section} score: {total}/{max_total} points")
    print(f"  {'':<5} {'exercise':<{width}}  {'kind':<{kind_width}}  {'points':>6}  {'hints':>5}  status")
    for ex_id, title, kind, pts, hints, status in rows:
        print(f"  {ex_id:<5} {title:<{width}}  {kind:<{kind_width}}  {pts:>6}  {hints:>5}  {status}")
