"""Grade a whole class: read the submissions, grade them in parallel, write the gradebook.

The submissions come as the learning platform hands them over (see :mod:`course_tools.lms.intake`):
a Moodle or Canvas "download all submissions" zip, nbgrader's ``submitted/`` tree, or a folder::

    SUBMISSIONS/alice/01_kl_elbo.ipynb     one folder per student (any notebooks inside)
    SUBMISSIONS/bob.ipynb                  or one file per student, named by the student

Written to the output folder (never inside the submissions)::

    gradebook.csv          one row per student: one column per exercise, total (raw), penalty, final, max,
                           late, problems, flags, sandbox
    grades.json            every report in full, the roster's names and the late policy
    feedback/<student>.md  and .html: each exercise's points and the student's own message
    similarity.md          and .html: answers alike between students, copies of the reference (flags)
    moodle/, canvas/       the platform's grade-import CSV and the feedback files packed for upload
                           (see :mod:`course_tools.lms.export`)
    regrade_log.csv        every change of a student's points between two runs: who, when, old, new, why
    .cache/                one JSON per graded notebook, keyed by its bytes, the student and the grader's code

A re-run grades only what changed: a notebook whose bytes, student, section and
grader (course_utils' code, the section sources, the limits, the secret) are all
unchanged is read from the cache, unless ``regrade`` is set (or the student is in
``regrade_students``). The ``flags`` column (see :mod:`.flags` and :mod:`.similarity`)
is for the instructor to look at; it never changes a point.

A class bigger than one machine is graded in shards (``shard=(i, n)``: every n-th
student of the sorted class, from the i-th): each shard writes only
``shard-<i>-of-<n>.json``, its students' reports and answers, and :func:`merge_shards`
makes the class's outputs from all n of them. A single run goes through the same
two steps, so the merged outputs are the single run's, byte for byte.
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
from datetime import datetime
from pathlib import Path

from course_utils.grading import Result, exercises

from .. import ROOT
from ..lms import export
from ..lms.intake import Entrant, read_submissions
from ..lms.policy import NO_POLICY, Late, Policy
from ..lms.roster import Person, match
from .engine import Report, grade_submission
from .regrades import log_changes, read_gradebook, spreadsheet_safe
from .sandbox import DEFAULT_LIMITS, UNSANDBOXED, Limits, SandboxUnavailable, sandbox_available
from .similarity import compare_class, reference_copies, write_report
from .submission import SubmissionError, read_submission

__all__ = ["Member", "ClassResult", "grade_class", "merge_shards", "parse_shard", "summary"]

LIMIT_MARKERS = ("stopped the grader", "did not run in the sandbox", "the sandbox did not start")
STATE_VERSION = 1


@dataclass
class Member:
    """One row of the class: the id the gradebook uses, and what the platform or the roster knows of them.

    on_roster: True or False when a roster was given, None without one.
    lms: the platform's identifiers the exports need (Moodle's folder name, Canvas's user id and name, ...).
    """

    key: str
    name: str = ""
    email: str = ""
    on_roster: bool | None = None
    lms: dict[str, str] = field(default_factory=dict)


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


def _num(x: float) -> int | str:
    """Points as the gradebook writes them: 12, or 10.8 (two decimals at most)."""
    x = round(float(x), 2)
    return int(x) if x == int(x) else f"{x:.2f}".rstrip("0")


@dataclass
class ClassResult:
    """Every report, by student, plus what the rows, the feedback and the summary need."""

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
    #: student -> name, email, roster membership and the platform's ids (default: the key alone)
    members: dict[str, Member] = field(default_factory=dict)
    policy: Policy = NO_POLICY
    #: where the submissions came from: "moodle", "canvas", "nbgrader" or "folder"
    kind: str = "folder"
    #: files in the submissions that could not be read (a member too large, a bad timestamp)
    problems: list[str] = field(default_factory=list)
    #: the LMS files written (see :func:`course_tools.lms.export.write_exports`), once written
    exports: export.Written | None = None
    #: how many shards were merged into this result (0: one run)
    shards: int = 0

    def member(self, student: str) -> Member:
        return self.members.get(student) or Member(student)

    def late(self, report: Report, student: str = "") -> Late:
        """The late penalty on one of ``student``'s notebooks (0 without a deadline for its section)."""
        when = datetime.fromisoformat(report.submitted) if report.submitted else None
        possible = sum(e.points for e in exercises(report.section)) if report.section else 0
        return self.policy.late(report.section, when, report.total, possible, student)

    def best(self, student: str, section: str) -> Report | None:
        """The student's notebook of a section with the most points after any late penalty."""
        mine = [r for r in self.reports.get(student, []) if r.section == section]
        return max(mine, key=lambda r: (r.total - self.late(r, student).points, r.error is None), default=None)

    def section_points(self, student: str) -> dict[str, float]:
        """section -> the student's final points in it (the best notebook's, after any late penalty; 0 for none)."""
        points = {}
        for section in self.sections:
            report = self.best(student, section)
            points[section] = report.total - self.late(report, student).points if report else 0.0
        return points

    def rows(self) -> list[dict]:
        rows = []
        for student in self.reports:
            who = self.member(student)
            row, total, max_total, penalty = {"student": student, "name": who.name}, 0, 0, 0.0
            problems, late = [], []
            if who.on_roster is False:
                problems.append("not on the roster")
            if not self.reports[student]:
                problems.append("no submission" if who.on_roster else "no notebook found")
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
                elif report is not None:
                    if report.error:
                        problems.append(f"{Path(report.notebook).name}: {report.error}")
                    cost = self.late(report, student)
                    penalty += cost.points
                    if cost.text:
                        late.append(cost.text)
                    elif report.late_marked and section not in self.policy.deadlines:
                        late.append(f"{section}: marked late by the platform (no deadline in course.toml)")
            for r in self.reports[student]:
                if r.section not in self.sections:
                    problems.append(f"{Path(r.notebook).name}: {r.error or 'not graded'}")
            ran_in = sorted({r.sandbox for r in self.reports[student] if r.sandbox})
            row.update(total=total, penalty=_num(penalty), final=_num(total - penalty), max=max_total,
                       late="; ".join(late), problems="; ".join(problems),
                       flags="; ".join(self.flags.get(student, [])), sandbox="; ".join(ran_in) or self.sandbox)
            rows.append(row)
        return rows

    def columns(self) -> list[str]:
        return (["student", "name"] + [ex.id for s in self.sections for ex in exercises(s)]
                + ["total", "penalty", "final", "max", "late", "problems", "flags", "sandbox"])


def gradebook_csv(result: ClassResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=result.columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in result.rows())
    return buf.getvalue()


def _lines(report: Report) -> list[str]:
    return [Result(**{k: e[k] for k in ("id", "title", "points", "max_points", "status", "message")}).line()
            for e in report.exercises]


def feedback_markdown(student: str, result: ClassResult) -> str:
    """What a student gets back: per section, the points and the same line the notebook's check prints."""
    who = result.member(student)
    out = [f"# Feedback for {who.name or student}", ""]
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
        cost = result.late(report, student)
        if cost.points:
            out += [f"**Late:** {cost.text.split(': ', 1)[1]}: {_num(cost.points)} points off; "
                    f"final {_num(report.total - cost.points)}/{report.max_total}.", ""]
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




# --- grading: the class, or one shard of it ---------------------------------------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): the second of four slices.

    Raises:
        ValueError: not I/N with 1 <= I <= N.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard takes I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _class_members(entrants: list[Entrant], roster: list[Person] | None) -> tuple[dict[str, Member], dict[str, str]]:
    """Everyone in the class, keyed by the roster's id where one matches (else the platform's), and
    entrant key -> member key. Roster students without a submission are members too."""
    members: dict[str, Member] = {}
    owner: dict[str, str] = {}
    found = match({e.key: (e.name, e.email) for e in entrants}, roster) if roster is not None else {}
    for e in entrants:
        person = found.get(e.key)
        key = person.id if person else e.key
        lms = {**e.lms, **(person.lms if person else {})}
        members[key] = Member(key, (person.name if person and person.name else e.name),
                              (person.email if person else e.email), None if roster is None else person is not None,
                              lms)
        owner[e.key] = key
    for person in roster or []:
        if person.id not in members:
            members[person.id] = Member(person.id, person.name, person.email, True, dict(person.lms))
    return members, owner


def _in_shard(keys: list[str], shard: tuple[int, int] | None) -> set[str]:
    if shard is None:
        return set(keys)
    i, n = shard
    return {k for j, k in enumerate(sorted(keys)) if j % n == i - 1}


def _grade_one(label: str, data: bytes, section, limits, unsandboxed: bool, cache: Path, key: str, regrade: bool,
               student: str = ""):
    cached = cache / f"{key}.json"
    if not regrade and cached.exists():
        try:
            report = Report.from_dict(json.loads(cached.read_text()))
            report.notebook = label
            return report, True
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is graded again
    report = grade_submission(data, label, section, limits, student=student, unsandboxed=unsandboxed)
    _write_atomic(cached, json.dumps(report.to_dict()))
    return report, False


def _grade_tasks(tasks, students, section, limits, unsandboxed, cache, jobs, progress, regrade, times):
    """Grade each distinct notebook once, in parallel; every student's reports, each stamped with its time.

    ``tasks``: (student, label, data, cache key, Notebook); ``regrade(student)``: ignore the cache;
    ``times``: student -> the roster's submission time, for notebooks whose source gives none.
    """
    from tqdm.auto import tqdm

    reports: dict[str, list[Report]] = {s: [] for s in students}
    by_key: dict[str, list[tuple]] = {}
    first: dict[str, tuple] = {}
    for task in tasks:  # a notebook listed twice for a student is graded once
        by_key.setdefault(task[3], []).append(task)
        first.setdefault(task[3], task)
    reused = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool, \
            tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr) as bar:
        futures = {pool.submit(_grade_one, label, data, section, limits, unsandboxed, cache, key,
                               regrade(student), student): key
                   for key, (student, label, data, _, _) in first.items()}
        for future in as_completed(futures):
            report, was_cached = future.result()
            for student, label, _, _, nb in by_key[futures[future]]:
                copy = Report.from_dict(report.to_dict())
                copy.notebook = label
                when = nb.submitted or times.get(student)
                copy.submitted = when.isoformat() if when else None
                copy.late_marked = nb.late_marked
                reports[student].append(copy)
                reused += was_cached
                bar.update(1)
    for name in reports:
        reports[name].sort(key=lambda r: r.notebook)
    return reports, reused


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
    *,
    roster: list[Person] | None = None,
    policy: Policy = NO_POLICY,
    shard: tuple[int, int] | None = None,
    regrade_students: tuple[str, ...] = (),
    reason: str = "",
    who: str | None = None,
) -> ClassResult:
    """Grade every notebook in ``submissions`` and write the gradebook, feedback and exports to ``out``.

    Args:
        submissions: a Moodle or Canvas zip, an nbgrader tree, or a folder (:mod:`course_tools.lms.intake`).
        roster: the class list; students without a submission get 0, submissions from others are reported.
        policy: deadlines and the late policy (``course.toml``).
        shard: (i, n): grade only the i-th of n slices and write ``shard-<i>-of-<n>.json`` (no gradebook);
            :func:`merge_shards` makes the class's outputs.
        regrade_students: grade these students again, ignoring the cache; the regrade log records them.
        reason, who: what the regrade log says for the changes of this run (default: the user's name).

    Student code runs in the bubblewrap sandbox; where it cannot start, this raises
    :class:`.sandbox.SandboxUnavailable`, unless ``unsandboxed`` (recorded in the gradebook).

    Raises:
        ValueError: the output is inside the submissions, an unknown section or student, unreadable input.
    """
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
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
    intake = read_submissions(submissions)
    members, owner = _class_members(intake.entrants, roster)
    unknown = sorted(set(regrade_students) - set(members))
    if unknown:
        raise ValueError(f"cannot regrade {', '.join(unknown)}: not in the class (ids are the gradebook's "
                         "'student' column)")
    mine = _in_shard(list(members), shard)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    fp = fingerprint(limits, salt, "none" if unsandboxed else "bubblewrap")
    cache = out / ".cache"
    tasks = []  # (student, label, data, cache key, the Notebook)
    for e in intake.entrants:
        student = owner[e.key]
        if student not in mine:
            continue
        for nb in e.notebooks:
            # each student's hidden inputs are their own, so the key names the student
            key = hashlib.sha256(nb.data + f"|{section}|{fp}|{student}".encode()).hexdigest()[:32]
            tasks.append((student, nb.label, nb.data, key, nb))
    reports, reused = _grade_tasks(tasks, sorted(mine), section, limits, unsandboxed, cache, jobs, progress,
                                   lambda student: regrade or student in regrade_students,
                                   {p.id: p.submitted for p in roster or [] if p.submitted})
    changed = [label for _, label, data, _, nb in tasks
               if nb.path is not None and (not nb.path.exists() or nb.path.read_bytes() != data)]
    state = {
        "version": STATE_VERSION, "fingerprint": fp, "section": section, "sandbox": sandbox, "kind": intake.kind,
        "shard": list(shard) if shard else None, "policy": policy.to_dict(), "problems": intake.problems,
        "changed": changed, "seconds": time.perf_counter() - start, "reused": reused, "jobs": jobs,
        "regraded": sorted(set(regrade_students) & mine),
        "students": {s: {"member": members[s].__dict__, "reports": [r.to_dict() for r in reports[s]],
                         "answers": _answers([t for t in tasks if t[0] == s])} for s in sorted(mine)},
    }
    text = json.dumps(state, indent=1, sort_keys=True)
    if shard is not None:
        _write_atomic(out / f"shard-{shard[0]}-of-{shard[1]}.json", text)
        return _result(state, [])
    return finish([json.loads(text)], out, regrade_students, reason, who)  # as a merge reads it back


def _answers(tasks) -> list[dict]:
    """Each notebook's exercise cells and digest: what the class-wide similarity report needs."""
    found = []
    for _, label, data, _, _ in tasks:
        try:
            sub = read_submission(data, label.rsplit("/", 1)[-1])
            section, regions = sub.section, sub.regions
        except SubmissionError:
            section, regions = None, {}
        found.append({"section": section, "regions": regions, "sha256": hashlib.sha256(data).hexdigest()})
    return found


def _result(state: dict, shards: list[dict]) -> ClassResult:
    """A ClassResult from one or more states (a single run's, or every shard's)."""
    parts = shards or [state]
    students = {s: v for part in parts for s, v in part["students"].items()}
    order = sorted(students)
    reports = {s: [Report.from_dict(r) for r in students[s]["reports"]] for s in order}
    section = state["section"]
    sections = [section] if section else sorted({r.section for rs in reports.values() for r in rs if r.section})
    members = {s: Member(**students[s]["member"]) for s in order}
    return ClassResult(reports, sections, sum(p["seconds"] for p in parts), sum(p["reused"] for p in parts),
                       max(p["jobs"] for p in parts), [c for p in parts for c in p["changed"]],
                       sandbox=state["sandbox"], members=members, policy=Policy.from_dict(state["policy"]),
                       kind=state["kind"], problems=[x for p in parts for x in p["problems"]],
                       shards=len(shards))


def merge_shards(folders: list[Path], out: Path, reason: str = "", who: str | None = None) -> ClassResult:
    """Combine the ``shard-<i>-of-<n>.json`` of every shard into the class's outputs in ``out``.

    Raises:
        ValueError: a shard is missing or twice, or the shards were graded differently (another grader,
            secret, section, sandbox or course.toml); the message names it.
    """
    paths = []
    for folder in map(Path, folders):
        if not folder.exists():
            raise ValueError(f"{folder}: no such folder (a shard's --out folder was expected)")
        found = sorted(folder.glob("shard-*-of-*.json")) if folder.is_dir() else [folder]
        if not found:
            raise ValueError(f"{folder}: no shard-<i>-of-<n>.json in it: was it graded with --shard?")
        paths += found
    states = []
    for path in paths:
        try:
            states.append(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a shard's result ({err})") from None
    n = {tuple(s["shard"])[1] for s in states}
    if len(n) != 1:
        raise ValueError(f"the shards come from different splits: {sorted(n)} shards")
    (total,) = n
    got = sorted(s["shard"][0] for s in states)
    if got != list(range(1, total + 1)):
        missing = sorted(set(range(1, total + 1)) - set(got))
        twice = sorted({i for i in got if got.count(i) > 1})
        raise ValueError(f"merging {total} shards needs each once: " + "; ".join(
            ([f"missing {', '.join(map(str, missing))}"] if missing else [])
            + ([f"twice: {', '.join(map(str, twice))}"] if twice else [])))
    for field_ in ("fingerprint", "section", "sandbox", "policy", "kind", "version"):
        values = {json.dumps(s[field_], sort_keys=True) for s in states}
        if len(values) != 1:
            raise ValueError(f"the shards were graded differently ({field_} differs): grade them again with one "
                             "course checkout, secret, section and course.toml")
    asked = tuple(sorted({s for state in states for s in state.get("regraded", [])}))
    return finish(sorted(states, key=lambda s: s["shard"][0]), out, asked, reason, who)


# --- the class's outputs ------------------------------------------------------------------------------------------


def finish(states: list[dict], out: Path, regrade_students=(), reason: str = "", who: str | None = None
           ) -> ClassResult:
    """Similarity across the whole class, flags, and every output file; the same for one run or a merge."""
    out = Path(out)
    result = _result(states[0], states if len(states) > 1 or states[0]["shard"] else [])
    answers = {s: v["answers"] for st in states for s, v in st["students"].items()}
    result.similarity = _similarity(answers, result.sections)
    result.flags = {name: [f for r in result.reports[name] for f in r.flags] for name in result.reports}
    for name, lines in result.similarity.flags().items():
        result.flags.setdefault(name, []).extend(lines)
    old = read_gradebook(out / "gradebook.csv")
    _write_outputs(result, out)
    log_changes(out / "regrade_log.csv", old, result.rows(), regrade_students, reason, who)
    return result


def _similarity(answers: dict[str, list[dict]], sections):
    """Compare every pair of students' exercise cells, and each with the reference's source (flags only)."""
    cells: dict[str, dict[str, str]] = {}
    notebooks: dict[str, list[bytes]] = {}
    for name in sorted(answers):
        for a in answers[name]:
            notebooks.setdefault(name, []).append(a["sha256"].encode())
            if a["section"] in sections:
                cells.setdefault(name, {}).update(a["regions"])
    templates, solutions, references = {}, {}, {}
    for section in sections:
        for folder, found in (("exercises", templates), ("solutions", solutions)):
            path = next(iter(sorted((ROOT / folder).glob(f"{section}_*.ipynb"))), None)
            if path is not None:
                found.update(read_submission(path.read_bytes(), path.name, section).regions)
        for ex in exercises(section):
            if ex.reference is not None:
                references[ex.id] = inspect.getsource(inspect.unwrap(ex.reference))
    report = compare_class(cells, templates=templates, notebooks=notebooks)
    report.reference_copies = reference_copies(cells, references, solutions, templates)
    return report


def _write_file(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    else:
        _write_atomic(path, content)
    return path


def _write_outputs(result: ClassResult, out: Path) -> None:
    if result.similarity is not None:
        write_report(result.similarity, out)
    _write_atomic(out / "gradebook.csv", gradebook_csv(result))
    detail = {"sections": result.sections, "sandbox": result.sandbox, "policy": result.policy.to_dict(),
              "members": {s: m.__dict__ for s, m in result.members.items()},
              "students": {s: [r.to_dict() for r in rs] for s, rs in result.reports.items()}}
    _write_atomic(out / "grades.json", json.dumps(detail, indent=1))
    pages = {}
    for student in result.reports:
        md = feedback_markdown(student, result)
        pages[student] = feedback_html(md)
        _write_atomic(out / "feedback" / f"{_safe(student)}.md", md)
        _write_atomic(out / "feedback" / f"{_safe(student)}.html", pages[student])
    result.exports = export.write_exports(result, out, pages, _write_file)


def summary(result: ClassResult, out: Path) -> str:
    """The few lines printed at the end: how many graded, which failed to run, and why."""
    all_reports = [r for rs in result.reports.values() for r in rs]
    failed = [(s, r) for s, rs in result.reports.items() for r in rs if r.error]
    limited = [(s, r, e) for s, rs in result.reports.items() for r in rs for e in r.exercises
               if not r.error and any(m in e["message"] for m in LIMIT_MARKERS)]
    empty = [s for s, rs in result.reports.items() if not rs]
    rows = result.rows()
    took = (f"{result.seconds:.1f} s (the {result.shards} shards' times added up)" if result.shards
            else f"{result.seconds:.1f} s with {result.jobs} worker(s)")
    lines = [f"graded {len(all_reports)} notebook(s) of {len(result.reports)} student(s) in {took}; "
             f"{result.reused} reused from the cache",
             f"  ran: {len(all_reports) - len(failed)}    could not be graded: {len(failed)}"]
    lines += [f"    {s} ({r.notebook}): {r.error}" for s, r in failed]
    if limited:
        lines.append(f"  exercises stopped by a time or memory limit, or a crash: {len(limited)}")
        lines += [f"    {s} ({r.notebook}) {e['id']}: {e['message']}" for s, r, e in limited]
    absent = [s for s in empty if result.member(s).on_roster]
    if absent:
        lines.append(f"  no submission (0 points) from: {', '.join(absent)}")
    if set(empty) - set(absent):
        lines.append(f"  no notebook found for: {', '.join(s for s in empty if s not in absent)}")
    strangers = [s for s in result.reports if result.member(s).on_roster is False]
    if strangers:
        lines.append(f"  NOT ON THE ROSTER (graded, left out of the LMS files): {', '.join(strangers)}")
    late = [r["student"] for r in rows if r["late"]]
    if late:
        lines.append(f"  late: {len(late)} student(s); penalties in the penalty column ({result.policy.source})")
    for problem in result.problems:
        lines.append(f"  in the submissions: {problem}")
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
    if result.exports is not None and result.exports.files:
        shown: dict[str, int] = {}
        for p in result.exports.files:  # nbgrader's feedback tree: one entry, with a count
            rel = p.relative_to(out)
            key = f"{rel.parts[0]}/{rel.parts[1]}/" if len(rel.parts) > 2 else str(rel)
            shown[key] = shown.get(key, 0) + 1
        lines.append("for the LMS: " + ", ".join(k if k[-1] != "/" else f"{k} ({n} files)" for k, n in shown.items()))
        lines += [f"  not in the LMS files: {x}" for x in result.exports.left_out]
    return "\n".join(lines)
