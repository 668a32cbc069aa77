"""Grade notebooks: ``python -m course_utils.grade NOTEBOOK.ipynb [...] [--json]``.

Each notebook runs top to bottom in a fresh kernel (a time limit per cell),
in a temporary copy, so the submission on disk is never modified. Then the
grader runs each exercise's check itself, in that kernel, on the functions the
notebook defined, and reads the results from a file it named; nothing the
notebook printed is trusted. A notebook that is missing, is not valid JSON or
fails to run gets a report that says why, and the other notebooks are still
graded.

JSON output: a list with one object per notebook::

    {"notebook": ..., "section": "01", "exercises": [{"id", "points", "max_points",
     "status", "message"}, ...], "total": 7, "max_total": 10, "error": null}

``--expect full`` or ``--expect zero`` makes the exit status say whether every
notebook got full marks or none (``make check`` uses both).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .grading import exercises

__all__ = ["Report", "grade_notebook", "main"]


@dataclass
class Report:
    notebook: str
    section: str | None
    exercises: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

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
            "seconds": round(self.seconds, 2),
        }


def _zero(section: str, reason: str) -> list[dict]:
    return [
        {"id": e.id, "points": 0, "max_points": e.points, "status": "not graded", "message": reason}
        for e in exercises(section)
    ]


def _section_of(path: Path, nb) -> str | None:
    meta = nb.metadata.get("course", {}).get("section") if nb is not None else None
    if isinstance(meta, str) and exercises(meta):
        return meta
    match = re.match(r"(\d\d)", path.name)
    if match and exercises(match.group(1)):
        return match.group(1)
    return None


GRADER_CELL = """\
import json as _json
from course_utils.grading import grade_namespace as _grade_namespace
with open({path!r}, "w") as _f:
    _json.dump([_r.to_dict() for _r in _grade_namespace({section!r}, globals())], _f)
"""


def grade_notebook(path: Path, timeout: int = 300) -> Report:
    """Execute one notebook in a fresh kernel and run its section's checks."""
    from nbclient import NotebookClient

    start = time.perf_counter()
    report = Report(str(path), None)
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        report.error = "file not found"
    except Exception as err:  # noqa: BLE001 - any unreadable file becomes a report line
        report.error = f"not a readable notebook: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        nb = None
    report.section = _section_of(path, nb if report.error is None else None)
    if report.section is None:
        report.error = report.error or "cannot tell which section this notebook belongs to"
        return report
    if report.error:
        report.exercises = _zero(report.section, report.error)
        return report
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        result_file = Path(tmp) / "results.json"
        nb.cells.append(nbformat.v4.new_code_cell(
            GRADER_CELL.format(path=str(result_file), section=report.section)))
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute()
        except Exception as err:  # noqa: BLE001 - a timeout or a dead kernel
            report.error = f"the notebook did not finish: {type(err).__name__}: {str(err)[:200]}"
        if result_file.exists():
            report.exercises = json.loads(result_file.read_text())
        else:
            report.error = report.error or "the grading cell did not run"
            report.exercises = _zero(report.section, report.error)
        shutil.rmtree(workdir, ignore_errors=True)
    report.seconds = time.perf_counter() - start
    return report


def _print_human(report: Report) -> None:
    head = f"{report.notebook}: {report.total}/{report.max_total} points"
    print(head + (f" ({report.error})" if report.error else "") + f" [{report.seconds:.1f} s]")
    for e in report.exercises:
        msg = f": {e['message']}" if e["message"] and e["status"] != "passed" else ""
        print(f"  {e['id']:<5} {e['points']}/{e['max_points']}  {e['status']}{msg}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON list of reports")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell")
    parser.add_argument("--expect", choices=("full", "zero"),
                        help="exit 1 unless every notebook got full marks (or zero)")
    args = parser.parse_args(argv)
    reports = []
    for path in args.notebooks:
        report = grade_notebook(path, timeout=args.timeout)
        reports.append(report)
        if not args.json:
            _print_human(report)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    if args.expect == "full":
        bad = [r for r in reports if r.error or not r.exercises or r.total != r.max_total]
    elif args.expect == "zero":
        bad = [r for r in reports if r.error or not r.exercises or r.total != 0]
    else:
        bad = []
    for r in bad:
        print(f"expected {args.expect} marks: {r.notebook} got {r.total}/{r.max_total}"
              + (f" ({r.error})" if r.error else ""), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
