"""Grade a whole class: find the submissions, grade them in parallel, write the gradebook.

Layout of a submissions folder (both may be mixed)::

    SUBMISSIONS/alice/01_kl_elbo.ipynb     one folder per student (any notebooks inside)
    SUBMISSIONS/bob.ipynb                  or one file per student, named by the student

Written to the output folder (never inside the submissions)::

    gradebook.csv          one row per student, one column per exercise, total, max, problems
    grades.json            every report in full (for an LMS import or a script)
    feedback/<student>.md  and .html: each exercise's points and the student's own message
    similarity.md          and .html: answers alike between students, copies of the reference (flags)
    .cache/                one JSON per graded notebook, keyed by its bytes, the student and the grader's code

A re-run grades only what changed: a notebook whose bytes, student, section and
grader (course_utils' code, the section sources, the limits, the secret) are all
unchanged is read from the cache, unless ``regrade`` is set. The ``flags`` column
(see :mod:`.flags` and :mod:`.similarity`) is for the instructor to look at; it
never changes a point.
"""

from __future__ import annotations

import csv
import hashlib
import html
import inspect
import io
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import Result, exercises

from .. import ROOT
from .engine import Report, grade_submission
from .sandbox import DEFAULT_LIMITS, UNSANDBOXED, Limits, SandboxUnavailable, sandbox_available
from .similarity import compare_class, reference_copies, write_report
from .submission import SubmissionError, read_submission

__all__ = ["Student", "discover", "grade_class", "ClassResult"]

LIMIT_MARKERS = ("stopped the grader", "did not run in the sandbox", "the sandbox did not start")


@dataclass
class Student:
    name: str
    notebooks: list[Path] = field(default_factory=list)


def discover(folder: Path) -> list[Student]:
    """Students in a submissions folder: sub-folders (with their notebooks) and top-level notebooks."""
    students: dict[str, Student] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            found = sorted(p for p in entry.rglob("*.ipynb")
                           if not any(part.startswith(".") for part in p.relative_to(entry).parts))
            students.setdefault(entry.name, Student(entry.name)).notebooks += found
        elif entry.suffix == ".ipynb":
            students.setdefault(entry.stem, Student(entry.stem)).notebooks.append(entry)
    return list(students.values())


def fingerprint(limits: Limits, salt: int, sandbox: str = "") -> str:
    """Changes whenever anything that decides a grade changes: the grader's code, sources, limits, salt,
    and whether the bubblewrap sandbox was used (``sandbox``: "bubblewrap" or "none")."""
    h = hashlib.sha256(f"{limits}|{salt}|{sandbox}".encode())
    for path in [*sorted((ROOT / "course_utils").rglob("*.py")), *sorted((ROOT / "course_tools").rglob("*.py")),
                 *sorted((ROOT / "notebooks").glob("*.py"))]:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _safe(name: str) -> str:
    """A file name for a student: their name if it is safe, else a cleaned one with a short hash (unique)."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    if clean == name and clean:
        return clean
    return f"{clean or 'student'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _cell(value):
    """A CSV cell a spreadsheet will not run as a formula (student names come from file names)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


@dataclass
class ClassResult:
    """Every report, by student, plus what the summary needs."""

    reports: dict[str, list[Report]]
    sections: list[str]
    seconds: float = 0.0
    reused: int = 0
    jobs: int = 1
    changed: list[str] = field(default_factory=list)
    #: student -> things for the instructor to look at (never penalties): a cell that reaches for the
    #: grader's machinery, an answer close to a classmate's or to the reference's source, identical notebooks
    flags: dict[str, list[str]] = field(default_factory=dict)
    similarity: object = None
    #: what student code ran in: "bubblewrap 0.8.0", or "none (--unsandboxed)"
    sandbox: str = ""

    def best(self, student: str, section: str) -> Report | None:
        """The student's best-scoring notebook of a section (students sometimes submit two)."""
        mine = [r for r in self.reports.get(student, []) if r.section == section]
        return max(mine, key=lambda r: (r.total, r.error is None), default=None)

    def rows(self) -> list[dict]:
        rows = []
        for student in self.reports:
            row, total, max_total, problems = {"student": student}, 0, 0, []
            if not self.reports[student]:
                problems.append("no notebook found")
            for section in self.sections:
                report = self.best(student, section)
                for ex in exercises(section):
                    got = next((e for e in report.exercises if e["id"] == ex.id), None) if report else None
                    row[ex.id] = got["points"] if got else 0
                    total, max_total = total + row[ex.id], max_total + ex.points
                    if got and any(m in got["message"] for m in LIMIT_MARKERS):
                        problems.append(f"{ex.id}: {got['message']}")
                unreadable = any(r.section is None for r in self.reports[student])
                if report is None and self.reports[student] and not unreadable:
                    problems.append(f"no notebook of section {section}")
                elif report is not None and report.error:
                    problems.append(f"{Path(report.notebook).name}: {report.error}")
            for r in self.reports[student]:
                if r.section not in self.sections:
                    problems.append(f"{Path(r.notebook).name}: {r.error or 'not graded'}")
            ran_in = sorted({r.sandbox for r in self.reports[student] if r.sandbox})
            row.update(total=total, max=max_total, problems="; ".join(problems),
                       flags="; ".join(self.flags.get(student, [])), sandbox="; ".join(ran_in) or self.sandbox)
            rows.append(row)
        return rows

    def columns(self) -> list[str]:
        return (["student"] + [ex.id for s in self.sections for ex in exercises(s)]
                + ["total", "max", "problems", "flags", "sandbox"])


def gradebook_csv(result: ClassResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=result.columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in result.rows())
    return buf.getvalue()


def _lines(report: Report) -> list[str]:
    return [Result(**{k: e[k] for k in ("id", "title", "points", "max_points", "status", "message")}).line()
            for e in report.exercises]


def feedback_markdown(student: str, result: ClassResult) -> str:
    """What a student gets back: per section, the points and the same line the notebook's check prints."""
    out = [f"# Feedback for {student}", ""]
    if not result.reports[student]:
        out += ["No notebook was found in your submission.", ""]
    for r in result.reports[student]:
        if r.section not in result.sections:
            out += [f"`{Path(r.notebook).name}` could not be graded: {r.error or 'not one of the sections graded'}",
                    ""]
    for section in result.sections:
        report = result.best(student, section)
        if report is None:
            out += [f"## Section {section}", "", "No notebook of this section was found in your submission.", ""]
            continue
        out += [f"## Section {section}: {report.total}/{report.max_total} points", "",
                f"Notebook graded: `{Path(report.notebook).name}`", ""]
        if report.error:
            out += [f"**It could not be graded:** {report.error}", ""]
        out += [f"- {line}" for line in _lines(report)] + [""]
        out += [f"Note: {note}" for note in report.notes] + ([""] if report.notes else [])
    return "\n".join(out)


def feedback_html(markdown: str) -> str:
    """A plain HTML page of the feedback (no Markdown library needed)."""
    body = []
    for line in markdown.splitlines():
        text = html.escape(line)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", re.sub(r"`(.+?)`", r"<code>\1</code>", text))
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{text[2:]}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    title = html.escape(markdown.splitlines()[0][2:]) if markdown else "Feedback"
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _grade_one(path: Path, data: bytes, section, limits, unsandboxed: bool, cache: Path, key: str, regrade: bool,
               student: str = ""):
    cached = cache / f"{key}.json"
    if not regrade and cached.exists():
        try:
            report = Report.from_dict(json.loads(cached.read_text()))
            report.notebook = str(path)
            return report, True
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is graded again
    report = grade_submission(data, str(path), section, limits, student=student, unsandboxed=unsandboxed)
    _write_atomic(cached, json.dumps(report.to_dict()))
    return report, False


def grade_class(
    submissions: Path,
    out: Path,
    section: str | None = None,
    jobs: int | None = None,
    regrade: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    salt: int = 0,
    progress: bool = True,
    unsandboxed: bool = False,
) -> ClassResult:
    """Grade every notebook under ``submissions`` and write the gradebook and feedback to ``out``.

    Student code runs in the bubblewrap sandbox; where it cannot start, this raises
    :class:`.sandbox.SandboxUnavailable`, unless ``unsandboxed`` (recorded in the gradebook).
    """
    from tqdm.auto import tqdm

    submissions, out = submissions.resolve(), out.resolve()
    if out == submissions or submissions in out.parents:
        raise ValueError(f"the output folder {out} is inside the submissions folder; choose another")
    if section is not None and not exercises(section):
        raise ValueError(f"no exercises are registered for section {section!r}")
    if not unsandboxed:
        ok, why = sandbox_available()
        if not ok:
            raise SandboxUnavailable(why)
    sandbox = UNSANDBOXED if unsandboxed else sandbox_available()[1]
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    students = discover(submissions)
    jobs = jobs or os.cpu_count() or 1
    fp = fingerprint(limits, salt, "none" if unsandboxed else "bubblewrap")
    cache = out / ".cache"
    tasks = []
    for st in students:
        for path in st.notebooks:
            data = path.read_bytes()
            # each student's hidden inputs are their own, so the key names the student
            key = hashlib.sha256(data + f"|{section}|{fp}|{st.name}".encode()).hexdigest()[:32]
            tasks.append((st.name, path, data, key))
    reports: dict[str, list[Report]] = {st.name: [] for st in students}
    by_key: dict[str, list[tuple[str, Path]]] = {}
    first: dict[str, tuple[bytes, Path, str]] = {}
    for name, path, data, key in tasks:  # a notebook listed twice for a student is graded once
        by_key.setdefault(key, []).append((name, path))
        first.setdefault(key, (data, path, name))
    reused = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool, \
            tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr) as bar:
        futures = {pool.submit(_grade_one, path, data, section, limits, unsandboxed, cache, key, regrade,
                               name): key
                   for key, (data, path, name) in first.items()}
        for future in as_completed(futures):
            report, was_cached = future.result()
            for name, path in by_key[futures[future]]:
                copy = Report.from_dict(report.to_dict())
                copy.notebook = os.path.relpath(path, submissions)
                reports[name].append(copy)
                reused += was_cached
                bar.update(1)
    for name in reports:
        reports[name].sort(key=lambda r: r.notebook)
    changed = [os.path.relpath(path, submissions) for _, path, data, _ in tasks
               if not path.exists() or path.read_bytes() != data]
    sections = [section] if section else sorted({r.section for rs in reports.values() for r in rs if r.section})
    result = ClassResult(reports, sections, time.perf_counter() - start, reused, jobs, changed, sandbox=sandbox)
    result.similarity = _similarity(tasks, sections)
    result.flags = {name: [f for r in reports[name] for f in r.flags] for name in reports}
    for name, lines in result.similarity.flags().items():
        result.flags.setdefault(name, []).extend(lines)
    result.seconds = time.perf_counter() - start
    _write_outputs(result, out)
    return result


def _similarity(tasks, sections):
    """Compare every pair of students' exercise cells, and each with the reference's source (flags only)."""
    cells: dict[str, dict[str, str]] = {}
    notebooks: dict[str, list[bytes]] = {}
    for name, path, data, _ in tasks:
        notebooks.setdefault(name, []).append(data)
        try:
            sub = read_submission(data, path.name)
        except SubmissionError:
            continue
        if sub.section in sections:
            cells.setdefault(name, {}).update(sub.regions)
    templates, answers, references = {}, {}, {}
    for section in sections:
        for folder, found in (("exercises", templates), ("solutions", answers)):
            path = next(iter(sorted((ROOT / folder).glob(f"{section}_*.ipynb"))), None)
            if path is not None:
                found.update(read_submission(path.read_bytes(), path.name, section).regions)
        for ex in exercises(section):
            if ex.reference is not None:
                references[ex.id] = inspect.getsource(inspect.unwrap(ex.reference))
    report = compare_class(cells, templates=templates, notebooks=notebooks)
    report.reference_copies = reference_copies(cells, references, answers, templates)
    return report


def _write_outputs(result: ClassResult, out: Path) -> None:
    if result.similarity is not None:
        write_report(result.similarity, out)
    _write_atomic(out / "gradebook.csv", gradebook_csv(result))
    detail = {"sections": result.sections, "sandbox": result.sandbox, "students": {
        s: [r.to_dict() for r in rs] for s, rs in result.reports.items()}}
    _write_atomic(out / "grades.json", json.dumps(detail, indent=1))
    for student in result.reports:
        md = feedback_markdown(student, result)
        _write_atomic(out / "feedback" / f"{_safe(student)}.md", md)
        _write_atomic(out / "feedback" / f"{_safe(student)}.html", feedback_html(md))


def summary(result: ClassResult, out: Path) -> str:
    """The few lines printed at the end: how many graded, which failed to run, and why."""
    all_reports = [r for rs in result.reports.values() for r in rs]
    failed = [(s, r) for s, rs in result.reports.items() for r in rs if r.error]
    limited = [(s, r, e) for s, rs in result.reports.items() for r in rs for e in r.exercises
               if not r.error and any(m in e["message"] for m in LIMIT_MARKERS)]
    empty = [s for s, rs in result.reports.items() if not rs]
    lines = [f"graded {len(all_reports)} notebook(s) of {len(result.reports)} student(s) in "
             f"{result.seconds:.1f} s with {result.jobs} worker(s); {result.reused} reused from the cache",
             f"  ran: {len(all_reports) - len(failed)}    could not be graded: {len(failed)}"]
    lines += [f"    {s} ({r.notebook}): {r.error}" for s, r in failed]
    if limited:
        lines.append(f"  exercises stopped by a time or memory limit, or a crash: {len(limited)}")
        lines += [f"    {s} ({r.notebook}) {e['id']}: {e['message']}" for s, r, e in limited]
    if empty:
        lines.append(f"  no notebook found for: {', '.join(empty)}")
    if result.changed:
        lines.append(f"  warning: changed on disk during grading (not by the grader): {', '.join(result.changed)}")
    flagged = sorted(s for s, f in result.flags.items() if f)
    if flagged:
        lines.append(f"  flagged for a look (not penalised): {len(flagged)} student(s): {', '.join(flagged)}"
                     " (the flags column; similarity.md)")
    if result.sandbox == UNSANDBOXED:
        lines.append(f"sandbox: {UNSANDBOXED}: student code ran with your rights (the sandbox column says so)")
    else:
        lines.append(f"sandbox: {result.sandbox or 'none'}")
    lines += [f"gradebook: {out / 'gradebook.csv'}", f"feedback:  {out / 'feedback'}/ (Markdown and HTML)",
              f"similarity: {out / 'similarity.md'} (and .html): pairs of answers alike, copies of the reference"]
    return "\n".join(lines)
