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
from pathlib import Path

from course_utils.grading import exercises

from .. import ROOT

__all__ = ["solution_cell", "notebook", "random_class"]


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
