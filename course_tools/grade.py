"""Grade notebooks: one file, several, or a whole class.

    python -m course_tools.grade SUBMISSIONS [--out grades] [--section 01] [--roster R.csv] [--config course.toml]
                                 [--jobs N] [--regrade | --regrade-student ID [--reason TEXT]] [--shard I/N]
                                 [--unsandboxed]
    python -m course_tools.grade --merge SHARD_FOLDER [...] --out grades
    python -m course_tools.grade NOTEBOOK.ipynb [...] [--json] [--expect full|zero] [--unsandboxed]

A class is a Moodle or Canvas "download all submissions" zip, an nbgrader course
folder (or its ``submitted/``), or a folder with one sub-folder or notebook per
student (see :mod:`course_tools.lms.intake`). It writes ``gradebook.csv``,
``grades.json``, ``feedback/<student>.md`` (and ``.html``), the LMS's import files
(``moodle/``, ``canvas/``) and ``regrade_log.csv`` to ``--out``, prints a summary,
and on a re-run grades only the notebooks that changed (``--regrade``: all;
``--regrade-student``: one student, logged). ``--shard I/N`` grades one slice of
the class; ``--merge`` makes the class's outputs from every slice.

Notebook files are graded one by one and printed (``--json``: one JSON list of
reports). ``--expect full`` or ``--expect zero`` makes the exit status say
whether every notebook got full marks, or none (``make check`` uses both).

How a notebook is graded (see :mod:`course_tools.autograde`): only its exercise
cells are taken; the provided cells come from the course's source. They run in
a fresh bubblewrap sandbox (see :mod:`course_tools.autograde.sandbox`): no
network, none of the grader's files but the Python environment and the course
package (read-only), an unprivileged user, and limits on time, memory, file size
and processes. The checks run in this process, on each student's own hidden
inputs (a hash of the course's secret, the student and the exercise; see
``course_utils.grading.compare.hidden_seed``), against the reference
implementations; a function that calls its exercise's reference scores 0.
Nothing the notebook printed or stored counts, and no submission is ever
modified.

Where the sandbox cannot start (no Linux, no bubblewrap, no user namespaces
and not root), grading refuses with exit status 2 and says how to get one;
``--unsandboxed`` grades anyway, without bubblewrap (the limits still hold),
and the gradebook's ``sandbox`` column, ``grades.json`` and the summary say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_utils.grading.compare import set_hidden_salt

from . import ROOT
from .autograde import Limits, Report, grade_submission
from .autograde.sandbox import DEFAULT_LIMITS, SandboxUnavailable, sandbox_available, sandbox_name

__all__ = ["Report", "grade_notebook", "main"]

DEFAULT_SALT = 7919  # public: an instructor sets COURSE_GRADING_SECRET (or --secret) to keep theirs private


def grade_notebook(path: Path, limits: Limits = DEFAULT_LIMITS, section: str | None = None,
                   student: str | None = None, unsandboxed: bool = False) -> Report:
    """Grade one notebook file (a missing or unreadable file gets a report that says so).

    ``student``: whose hidden inputs the checks draw (default: the file's name without extension).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return Report(str(path), section, error="file not found")
    except OSError as err:
        return Report(str(path), section, error=f"cannot read the file: {err.strerror}")
    return grade_submission(data, str(path), section, limits, student=Path(path).stem if student is None else student,
                            unsandboxed=unsandboxed)


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
    parser.add_argument("paths", nargs="+", type=Path,
                        help="a class (folder, Moodle or Canvas zip, nbgrader folder), notebook files, or with "
                             "--merge the shards' output folders")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="class mode: where to write (grades/)")
    parser.add_argument("--section", help="grade as this section (e.g. 01); default: each notebook's own")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel sandboxes (cores)")
    parser.add_argument("--regrade", action="store_true", help="class mode: ignore the cache")
    parser.add_argument("--regrade-student", action="append", default=[], metavar="ID",
                        help="class mode: grade this student again (the gradebook's student id) and log it")
    parser.add_argument("--reason", default="", help="what the regrade log says for the changes of this run")
    parser.add_argument("--roster", type=Path, help="class mode: the class list (CSV: id,name,email; or Moodle's "
                        "grading worksheet, or Canvas's gradebook export)")
    parser.add_argument("--config", type=Path, help="deadlines and the late policy (default: course.toml of the "
                        "course, if there is one)")
    parser.add_argument("--shard", help="class mode: grade only slice I of N (e.g. 2/4); merge with --merge")
    parser.add_argument("--merge", action="store_true", help="the paths are shards' output folders: write the "
                        "class's gradebook from them to --out")
    parser.add_argument("--no-progress", action="store_true", help="class mode: no progress bar")
    parser.add_argument("--json", action="store_true", help="files mode: print one JSON list of reports")
    parser.add_argument("--expect", choices=("full", "zero"),
                        help="files mode: exit 1 unless every notebook got full marks (or zero)")
    parser.add_argument("--setup-timeout", type=float, default=Limits.setup_s,
                        help="seconds to run a notebook's cells (%(default)s)")
    parser.add_argument("--timeout", type=float, default=Limits.check_s,
                        help="seconds for one exercise's check (%(default)s)")
    parser.add_argument("--memory", type=int, default=Limits.memory_mb, help="MB per sandbox (%(default)s)")
    parser.add_argument("--processes", type=int, default=Limits.processes,
                        help="processes and threads per sandbox (%(default)s)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="run student code without the bubblewrap sandbox (with your rights; recorded in the "
                             "gradebook): only where no sandbox can start and you trust the submissions")
    parser.add_argument("--secret", default=os.environ.get("COURSE_GRADING_SECRET"),
                        help="the course's grading secret (or COURSE_GRADING_SECRET): with each student's name it "
                             "decides their hidden inputs; it never enters the sandbox or the feedback")
    parser.add_argument("--salt", type=int, default=int(os.environ.get("COURSE_GRADING_SALT", DEFAULT_SALT)),
                        help="an integer secret (the older option; --secret wins)")
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


def _policy_and_roster(args):
    from .lms.policy import load_policy
    from .lms.roster import read_roster

    if args.config is not None and not args.config.exists():
        raise ValueError(f"--config {args.config} does not exist")
    policy = load_policy(args.config if args.config is not None else ROOT / "course.toml")
    roster = read_roster(args.roster, policy.timezone) if args.roster is not None else None
    return policy, roster


def _grade_class(args, limits: Limits, secret) -> int:
    from .autograde.gradebook import grade_class, parse_shard, summary

    try:
        policy, roster = _policy_and_roster(args)
        shard = parse_shard(args.shard) if args.shard else None
        result = grade_class(args.paths[0], args.out, args.section, args.jobs, args.regrade, limits, secret,
                             progress=not args.no_progress, unsandboxed=args.unsandboxed, roster=roster,
                             policy=policy, shard=shard, regrade_students=tuple(args.regrade_student),
                             reason=args.reason)
    except (ValueError, SandboxUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if shard is not None:
        graded = sum(len(rs) for rs in result.reports.values())
        print(f"shard {shard[0]}/{shard[1]}: graded {graded} notebook(s) of {len(result.reports)} student(s) in "
              f"{result.seconds:.1f} s ({result.reused} reused from the cache); wrote "
              f"{args.out / f'shard-{shard[0]}-of-{shard[1]}.json'}\nwhen every shard is done: "
              f"python -m course_tools.grade --merge SHARD_FOLDERS... --out GRADES")
        return 0
    print(summary(result, args.out))
    return 0


def _merge(args) -> int:
    from .autograde.gradebook import merge_shards, summary

    try:
        result = merge_shards(args.paths, args.out, reason=args.reason)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(result, args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = Limits(setup_s=args.setup_timeout, check_s=args.timeout, memory_mb=args.memory,
                    processes=args.processes)
    if args.merge:
        return _merge(args)  # runs no student code
    if not args.unsandboxed:
        ok, why = sandbox_available()
        if not ok:
            print(f"error: {SandboxUnavailable(why)}", file=sys.stderr)
            return 2
    secret = args.secret if args.secret else args.salt
    set_hidden_salt(secret)
    if not args.secret and args.salt == DEFAULT_SALT:
        print("note: grading with the course's public default secret; set COURSE_GRADING_SECRET (or --secret) "
              "to one of your own so nobody else can compute the hidden inputs", file=sys.stderr)
    if len(args.paths) == 1 and (args.paths[0].is_dir() or args.paths[0].suffix == ".zip"):
        return _grade_class(args, limits, secret)
    class_only = [flag for flag, given in (("--shard", args.shard), ("--roster", args.roster),
                                           ("--regrade", args.regrade), ("--regrade-student", args.regrade_student),
                                           ("--config", args.config), ("--out", args.out != Path("grades")))
                  if given]
    if class_only:
        print(f"error: {class_only[0]} needs a class (a folder, a Moodle or Canvas zip, or an nbgrader course); "
              f"{' '.join(map(str, args.paths))} is not one, or does not exist", file=sys.stderr)
        return 2
    folders = [p for p in args.paths if p.is_dir()]
    if folders:
        print(f"error: give one class folder, or notebook files; {folders[0]} is a folder", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        reports = list(pool.map(lambda p: grade_notebook(p, limits, args.section, unsandboxed=args.unsandboxed),
                                args.paths))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for report in reports:
            _print_human(report)
        print(f"sandbox: {sandbox_name(args.unsandboxed)}")
    return _expect(reports, args.expect)


if __name__ == "__main__":
    sys.exit(main())
