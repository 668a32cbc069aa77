"""Submissions made in code: the course's exercise notebook with some exercise cells answered.

The grader's tests build their class of correct, partial, cheating and broken
notebooks with :func:`notebook`, and ``scripts/bench_grading.py`` builds its
100-student class the same way, so both follow the notebooks as they change.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

from course_utils.grading import exercises

from .. import ROOT

__all__ = ["solution_cell", "notebook", "random_class", "moodle_class", "canvas_class", "nbgrader_class"]


@functools.cache
def _load(folder: str, section: str) -> dict:
    paths = sorted((ROOT / folder).glob(f"{section}_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no {folder}/{section}_*.ipynb: run `make notebooks`")
    return json.loads(paths[0].read_text())


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def solution_cell(ex_id: str) -> str:
    """The reference answer's cell for an exercise, as the solution notebook has it."""
    section = next(e.section for e in exercises() if e.id == ex_id)
    for cell in _load("solutions", section)["cells"]:
        if cell.get("metadata", {}).get("exercise") == ex_id:
            return _source(cell)
    raise KeyError(f"the solution notebook has no cell for exercise {ex_id}")


def notebook(section: str = "01", answers: dict[str, str] | None = None, *, solved=(), drop=(), edit=None) -> bytes:
    """The exercise notebook of ``section`` as a student might submit it.

    ``solved`` exercises get the reference cell, ``answers`` maps exercise ids to cell
    sources, ``drop`` deletes exercise cells, and ``edit(nb)`` may change the JSON dict.
    """
    nb = copy.deepcopy(_load("exercises", section))
    answers = {**{i: solution_cell(i) for i in solved}, **(answers or {})}
    cells = []
    for cell in nb["cells"]:
        ex_id = cell.get("metadata", {}).get("exercise")
        if ex_id in drop:
            continue
        if ex_id in answers:
            cell["source"] = answers[ex_id]
        cells.append(cell)
    nb["cells"] = cells
    if edit is not None:
        edit(nb)
    return json.dumps(nb, indent=1).encode()


def random_class(folder: Path, section: str, n: int, seed: int = 0) -> dict[str, int]:
    """Write ``n`` students' notebooks, each solving a random subset; returns each one's total."""
    rng = random.Random(seed)
    totals = {}
    for i in range(n):
        solved = [e for e in exercises(section) if rng.random() < 0.7]
        name = f"student{i:03d}"
        path = folder / name / f"{section}_submission.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        signed = lambda nb, name=name: nb["cells"].insert(0, {  # noqa: E731 - distinct bytes per student
            "cell_type": "markdown", "metadata": {}, "source": f"Submitted by {name}"})
        path.write_bytes(notebook(section, solved=tuple(e.id for e in solved), edit=signed))
        totals[name] = sum(e.points for e in solved)
    return totals


# --- classes as a learning platform hands them over ---------------------------------------------------------------

#: Names for generated students: first and last, so Moodle's "Full Name" and Canvas's "doejane" both appear.
FIRST = ["Ada", "Bruno", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Ivanov", "Cohen", "Haddad", "Hopper", "Tanaka", "Ruiz", "Berg"]


def _person(i: int) -> tuple[str, str, str]:
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST) + i) % len(LAST)]
    return first, last, f"{first.lower().replace('é', 'e')}.{last.lower()}{i}@example.edu"


def _answers(section: str, rng: random.Random, name: str) -> tuple[bytes, int]:
    solved = [e for e in exercises(section) if rng.random() < 0.7]
    signed = lambda nb: nb["cells"].insert(0, {  # noqa: E731 - distinct bytes per student
        "cell_type": "markdown", "metadata": {}, "source": f"Submitted by {name}"})
    return notebook(section, solved=tuple(e.id for e in solved), edit=signed), sum(e.points for e in solved)


def _zip(path: Path, files: dict[str, bytes]) -> None:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def moodle_class(zip_path: Path, worksheet: Path, section: str, n: int, seed: int = 0,
                 deadline: str = "2027-10-20T23:59:00", late_every: int = 4) -> dict[str, dict]:
    """A Moodle assignment's "download all submissions" zip and its grading worksheet (the roster).

    Student i has participant id 100000 + 7i; every ``late_every``-th hands in i hours after ``deadline``
    (a local time), the rest an hour before. The last student on the worksheet submitted nothing.
    Returns participant id -> {"name", "email", "total" (raw points), "submitted" (local ISO time)}.
    """
    rng = random.Random(seed)
    files, expected, rows = {}, {}, []
    due = datetime.fromisoformat(deadline)
    for i in range(n + 1):
        first, last, email = _person(i)
        pid, name = str(100000 + 7 * i), f"{first} {last}"
        when = due + timedelta(hours=i) if i % late_every == late_every - 1 else due - timedelta(hours=1)
        if i < n:
            data, total = _answers(section, rng, name)
            files[f"{name}_{pid}_assignsubmission_file/{section}_submission.ipynb"] = data
            files[f"{name}_{pid}_assignsubmission_onlinetext/onlinetext.html"] = b"<p>see the notebook</p>"
        else:
            total, when = 0, None
        expected[pid] = {"name": name, "email": email, "total": total,
                         "submitted": when.isoformat() if when else None}
        rows.append([f"Participant {pid}", name, email, "Submitted for grading" if when else "No submission", "",
                     "14.00", "Yes", when.strftime("%A, %-d %B %Y, %-I:%M %p") if when else "-", "-", ""])
    _zip(zip_path, files)
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    _write_csv(worksheet, header, rows)
    return expected


def canvas_class(zip_path: Path, export: Path, section: str, n: int, seed: int = 0,
                 deadline: str = "2027-10-20T23:59:00", late_every: int = 3) -> dict[str, dict]:
    """A Canvas assignment's "download submissions" zip and a gradebook export with a ``submitted`` column.

    Student i has user id 5000 + i and one attachment 900000 + i; every ``late_every``-th is LATE by
    i + 20 hours. The last student on the export submitted nothing.
    Returns user id -> {"name" ("Last, First"), "sortable" ("lastfirst"), "total", "submitted", "attachment"}.
    """
    rng = random.Random(seed)
    files, expected, rows = {}, {}, [["    Points Possible", "", "", "", "", "14"]]
    due = datetime.fromisoformat(deadline)
    for i in range(n + 1):
        first, last, email = _person(i)
        uid, name = str(5000 + i), f"{last}, {first}"
        sortable = re.sub(r"[^\w]", "", name.lower())
        late = i % late_every == late_every - 1
        when = due + timedelta(hours=i + 20) if late else due - timedelta(minutes=30)
        if i < n:
            data, total = _answers(section, rng, name)
            files[f"{sortable}_{'LATE_' * late}{uid}_{900000 + i}_{section}_kl_elbo.ipynb"] = data
        else:
            total, when = 0, None
        expected[uid] = {"name": name, "sortable": sortable, "total": total, "attachment": str(900000 + i),
                         "submitted": when.isoformat() if when else None, "late": late and when is not None}
        rows.append([name, uid, f"S{i:04d}", email.split("@")[0], "DGM 2027", when.isoformat() if when else ""])
    _zip(zip_path, files)
    _write_csv(export, ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "submitted"], rows)
    return expected


def nbgrader_class(course: Path, section: str, n: int, seed: int = 0, assignment: str = "ps1") -> dict[str, int]:
    """nbgrader's ``submitted/<student>/<assignment>/`` with ``timestamp.txt`` (UTC, nbgrader's format)."""
    rng = random.Random(seed)
    totals = {}
    for i in range(n):
        student = f"stud{i:02d}"
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        data, totals[student] = _answers(section, rng, student)
        (folder / f"{section}_kl_elbo.ipynb").write_bytes(data)
        (folder / "timestamp.txt").write_text(f"2027-10-2{i % 3} 21:14:03.{i:06d} UTC")
        (folder / "submission_secret.txt").write_text(f"{seed:04d}{i:04d}secret")
    return totals


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
