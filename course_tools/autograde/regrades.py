"""The regrade log: every change of a student's grade, with who changed it, when, and why.

Each run of the class grader compares the gradebook it is about to write with the one it replaces,
and appends to ``regrade_log.csv`` one line per student whose row changed (their points, penalty,
final or maximum), one per student asked to be regraded (even when nothing changed), and one per
student who left the gradebook::

    when,who,student,old,new,changed,reason
    2027-10-22T09:14:03+00:00,prof,100007,7.2,9.2,"1.3: 0 -> 2; total: 8 -> 10; ...",re-marked by hand

``old`` and ``new`` are the final points; ``who`` is ``COURSE_GRADER`` or the user's name. The first
run of a folder writes nothing: it changes no grade.
"""

from __future__ import annotations

import csv
import getpass
import os
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LOG_COLUMNS", "read_gradebook", "log_changes", "spreadsheet_safe"]


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet will not run as a formula (student names come from file names)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def read_gradebook(path: Path) -> dict[str, dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return {row["student"]: row for row in csv.DictReader(f)}
    except (OSError, KeyError, csv.Error):
        return {}


LOG_COLUMNS = ["when", "who", "student", "old", "new", "changed", "reason"]


def log_changes(path: Path, old: dict[str, dict[str, str]], rows: list[dict], regrade_students=(), reason: str = "",
                who: str | None = None) -> None:
    """Append one line per student whose row changed since ``old`` (the last gradebook), per student in
    ``regrade_students``, and per student no longer in ``rows`` (see the module's docstring)."""
    if not old:
        return
    when = datetime.now(UTC).isoformat(timespec="seconds")
    who = who or os.environ.get("COURSE_GRADER") or getpass.getuser()
    lines = []
    for row in rows:
        s = row["student"]
        before = old.get(s, {})
        keys = [k for k in row if k not in ("student", "name", "flags", "sandbox", "problems", "late")]
        diffs = [f"{k}: {before.get(k, '')} -> {row[k]}" for k in keys if str(row[k]) != before.get(k, "")]
        if diffs or s in regrade_students:
            why = reason or ("regrade requested" if s in regrade_students else "graded again: the submission, "
                             "the grader, the roster or course.toml changed")
            lines.append([when, who, s, before.get("final", ""), row["final"], "; ".join(diffs) or "no change", why])
    for s in sorted(set(old) - {row["student"] for row in rows}):
        lines.append([when, who, s, old[s].get("final", ""), "", "removed from the gradebook",
                      reason or "not in this run's submissions or roster"])
    if not lines:
        return
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new:
            writer.writerow(LOG_COLUMNS)
        writer.writerows([[spreadsheet_safe(v) for v in line] for line in lines])


