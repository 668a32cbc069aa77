"""Grade notebooks: one file, several, or a whole class's folder.

    python -m course_tools.grade SUBMISSIONS/ [--out grades] [--section 01] [--jobs N] [--regrade]
    python -m course_tools.grade NOTEBOOK.ipynb [...] [--json] [--expect full|zero]

A folder is a class: one sub-folder per student, or one notebook per student
named by the student. It writes ``gradebook.csv``, ``grades.json`` and
``feedback/<student>.md`` (and ``.html``) to ``--out``, prints a summary, and
on a re-run grades only the notebooks that changed (``--regrade``: all).

Notebook files are graded one by one and printed (``--json``: one JSON list of
reports). ``--expect full`` or ``--expect zero`` makes the exit status say
whether every notebook got full marks, or none (``make check`` uses both).

How a notebook is graded (see :mod:`course_tools.autograde`): only its exercise
cells are taken; the provided cells come from the course's source. They run in
a fresh sandbox process under time and memory limits, with the course files
read-only; the checks run in this process, on inputs shifted by a hidden salt,
against the reference implementations. Nothing the notebook printed or stored
counts, and no submission is ever modified.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_utils.grading.compare import set_hidden_salt

from .autograde import Limits, Report, grade_submission
from .autograde.sandbox import DEFAULT_LIMITS

__all__ = ["Report", "grade_notebook", "main"]

DEFAULT_SALT = 7919  # an instructor may set COURSE_GRADING_SALT (or --salt) to keep theirs private


def grade_notebook(path: Path, limits: Limits = DEFAULT_LIMITS, section: str | None = None) -> Report:
    """Grade one notebook file (a missing or unreadable file gets a report that says so)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return Report(str(path), section, error="file not found")
    except OSError as err:
        return Report(str(path), section, error=f"cannot read the file: {err.strerror}")
    return grade_submission(data, str(path), section, limits)


def _print_human(report: Report) -> None:
    head = f"{report.notebook}: {report.total}/{report.max_total} points"
    print(head + (f" ({report.error})" if report.error else "") + f" [{report.seconds:.1f} s]")
    for e in report.exercises:
        msg = f": {e['message']}" if e["message"] and e["status"] != "passed" else ""
        print(f"  {e['id']:<5} {e['points']}/{e['max_points']}  {e['status']}{msg}")
    for note in report.notes:
        print(f"  note: {note}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grade", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="a class's folder, or notebook files")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="class mode: where to write (grades/)")
    parser.add_argument("--section", help="grade as this section (e.g. 01); default: each notebook's own")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel sandboxes (cores)")
    parser.add_argument("--regrade", action="store_true", help="class mode: ignore the cache")
    parser.add_argument("--no-progress", action="store_true", help="class mode: no progress bar")
    parser.add_argument("--json", action="store_true", help="files mode: print one JSON list of reports")
    parser.add_argument("--expect", choices=("full", "zero"),
                        help="files mode: exit 1 unless every notebook got full marks (or zero)")
    parser.add_argument("--setup-timeout", type=float, default=Limits.setup_s,
                        help="seconds to run a notebook's cells (%(default)s)")
    parser.add_argument("--timeout", type=float, default=Limits.check_s,
                        help="seconds for one exercise's check (%(default)s)")
    parser.add_argument("--memory", type=int, default=Limits.memory_mb, help="MB per sandbox (%(default)s)")
    parser.add_argument("--salt", type=int, default=int(os.environ.get("COURSE_GRADING_SALT", DEFAULT_SALT)),
                        help="shifts the checks' random inputs away from the notebook's own")
    return parser


def _expect(reports: list[Report], expect: str | None) -> int:
    if expect == "full":
        bad = [r for r in reports if r.error or not r.exercises or r.total != r.max_total]
    elif expect == "zero":
        bad = [r for r in reports if r.error or not r.exercises or r.total != 0]
    else:
        return 0
    for r in bad:
        print(f"expected {expect} marks: {r.notebook} got {r.total}/{r.max_total}"
              + (f" ({r.error})" if r.error else ""), file=sys.stderr)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = Limits(setup_s=args.setup_timeout, check_s=args.timeout, memory_mb=args.memory)
    set_hidden_salt(args.salt)
    if len(args.paths) == 1 and args.paths[0].is_dir():
        from .autograde.gradebook import grade_class, summary

        try:
            result = grade_class(args.paths[0], args.out, args.section, args.jobs, args.regrade, limits,
                                 args.salt, progress=not args.no_progress)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(summary(result, args.out))
        return 0
    folders = [p for p in args.paths if p.is_dir()]
    if folders:
        print(f"error: give one class folder, or notebook files; {folders[0]} is a folder", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        reports = list(pool.map(lambda p: grade_notebook(p, limits, args.section), args.paths))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for report in reports:
            _print_human(report)
    return _expect(reports, args.expect)


if __name__ == "__main__":
    sys.exit(main())
