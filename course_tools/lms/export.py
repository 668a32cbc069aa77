"""Grades and feedback, in the files Moodle and Canvas import as they are.

Written beside ``gradebook.csv`` when the students are known to the platform (its zip was
graded, or its roster given); each file's format follows the platform's own importer:

Points are the course's (a section's final points after any late penalty, or an exercise's), or,
with ``[lms] scale_to = 100``, scaled so that each column is out of that many (the LMS grade item's
maximum: Moodle's worksheet upload skips a grade above it).

**Moodle** (``moodle/``)

- ``worksheet-<section>.csv``: the assignment's *Upload grading worksheet* (``mod/assign/feedback/offline``).
  It reads ``Identifier`` ("Participant 1234", the id of the download's folder names), ``Grade`` and
  ``Last modified (grade)`` (all three required), and a feedback column whose header is the feedback
  plugin's name ("Feedback comments"). ``Last modified (grade)`` is copied from the worksheet given as
  roster, so Moodle's stale-grade check passes; without one it is ``-`` and the upload needs "Ignore
  last modified date" ticked. One file per section: a Moodle assignment is one grade.
- ``grades.csv``: the gradebook's *Import > CSV file* (``grade/import/csv``): ``Email address`` (map it to
  "useremail") and one column per section, or per exercise (``[lms] columns = "exercise"`` in
  ``course.toml``), each mapped to a grade item or "new grade item". Only students whose email is known.
- ``feedback.zip``: *Upload multiple feedback files in a zip*: ``<the download's folder>/feedback.html``.
  Moodle reads the participant id from the folder name (``explode('_', $part, 5)``, then ``[1]``).

**nbgrader** (``nbgrader/``)

- ``feedback/<student>/<assignment>/<notebook>.html`` beside the submission's ``timestamp.txt`` and
  ``submission_secret.txt``: copy ``nbgrader/feedback/`` into the course folder's ``feedback/`` and run
  ``nbgrader release_feedback <assignment>`` (it finds the page by the notebook's name and the secret).

**Canvas** (``canvas/``)

- ``grades.csv``: the Gradebook's *Import*: ``Student``, ``ID`` (the Canvas user id), ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per section (or exercise) titled ``<title> (<assignment
  id>)`` when ``[lms.canvas_assignments]`` gives the id, else ``<title>`` (a new assignment on import), and
  a ``Points Possible`` row.
- ``feedback.zip``: *Re-Upload Submissions*: ``<name>_<user id>_<attachment id>_feedback.html``. Canvas takes
  the first two all-digit parts of the name as the user and the attachment, and attaches the file as a
  comment on that submission, so each file keeps the graded notebook's own prefix. A student with no file
  has no attachment to hang it on and gets none (the summary names them).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .intake import canvas_name

__all__ = ["Column", "Written", "write_exports", "moodle_worksheet", "moodle_grades", "canvas_grades",
           "feedback_zip", "ZIP_TIME"]

#: Zip entries carry this date, so the same grades give the same bytes (a shard merge equals a single run).
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Column:
    """One grade column: its title, what it sums (exercise ids) and its maximum."""

    title: str
    section: str
    exercises: tuple[str, ...]
    points: int
    whole_section: bool = True
    maximum: float = 0.0  # what the LMS's column is out of: ``points``, or ``[lms] scale_to``

    def scaled(self, points: float) -> float:
        """Course points as the LMS's column counts them (``points * maximum / self.points``)."""
        return points * self.maximum / self.points if self.maximum and self.points else points


@dataclass
class Written:
    """What :func:`write_exports` wrote, and who could not be included (for the summary)."""

    files: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _num(x) -> str:
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else f"{x:.2f}".rstrip("0")


def column_points(row: dict, column: Column, section_final: dict[str, float]) -> float:
    """A row's points in a column: a section's final points (after any late penalty), or an exercise's raw,
    on the column's scale."""
    return column.scaled(section_final[column.section] if column.whole_section else float(row[column.exercises[0]]))


def moodle_worksheet(section: str, people: list[dict], max_points: float) -> str:
    """Moodle's grading worksheet for one assignment (``people``: identifier, name, email, grade, modified, comment)."""
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
              "Grade can be changed", "Last modified (grade)", "Feedback comments"]
    rows = [[p["identifier"], p["name"], p["email"], "", _num(p["grade"]), _num(max_points), "Yes",
             p["modified"] or "-", p["comment"]] for p in people]
    return _csv(header, rows)


def moodle_grades(columns: list[Column], people: list[dict]) -> str:
    """Moodle's gradebook CSV import keyed by email (``people``: email, and points by column title)."""
    return _csv(["Email address"] + [c.title for c in columns],
                [[p["email"]] + [_num(p[c.title]) for c in columns] for p in people])


def canvas_grades(columns: list[Column], people: list[dict], ids: dict[str, int]) -> str:
    """Canvas's gradebook import (``people``: name, id, sis_user, sis_login, section, points by column title)."""
    titles = [f"{c.title} ({ids[c.section]})" if c.whole_section and c.section in ids else c.title for c in columns]
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    rows = [["Points Possible", "", "", "", ""] + [_num(c.maximum or c.points) for c in columns]]
    rows += [[p["name"], p["id"], p["sis_user"], p["sis_login"], p["section"]] + [_num(p[c.title]) for c in columns]
             for p in people]
    return _csv(head + titles, rows)


def feedback_zip(files: dict[str, str]) -> bytes:
    """A zip of ``{path inside: text}``, sorted, with fixed dates: the same feedback gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


def canvas_prefix(label: str) -> str | None:
    """``doejane_LATE_12345_67890_`` of a Canvas file name (what its re-upload matches on), or None."""
    found = canvas_name(label.rsplit("/", 1)[-1])
    return found.prefix if found else None


def _nbgrader(result, folder: Path, pages, write, done) -> None:
    """``feedback/<student>/<assignment>/<notebook>.html`` with the submission's timestamp.txt and
    submission_secret.txt: what ``nbgrader release_feedback <assignment>`` reads (it hashes the secret
    and the notebook's name to find the student's copy)."""
    files: dict[str, str] = {}
    for s, reports in result.reports.items():
        who = result.member(s)
        for r in reports:
            parts = r.notebook.split("/")
            if len(parts) != 3 or not parts[2].endswith(".ipynb"):
                continue  # not nbgrader's <student>/<assignment>/<notebook>.ipynb
            student, assignment, name = parts
            files[f"feedback/{student}/{assignment}/{name[:-len('.ipynb')]}.html"] = pages[s]
            for kept in ("timestamp.txt", "submission_secret.txt"):
                if f"nbgrader/{assignment}/{kept}" in who.lms:
                    files[f"feedback/{student}/{assignment}/{kept}"] = who.lms[f"nbgrader/{assignment}/{kept}"]
    for name in sorted(files):
        done.files.append(write(folder / name, files[name]))


def write_exports(result, out: Path, html_by_student: dict[str, str], write) -> Written:
    """Write ``out/moodle/`` and/or ``out/canvas/`` for a graded class (see the module's docstring).

    ``result``: the :class:`~course_tools.autograde.gradebook.ClassResult`; ``html_by_student``: each
    student's feedback page; ``write(path, text_or_bytes)``: how to write a file (atomically).
    """
    done = Written()
    platforms = _platforms(result)
    if not platforms:
        return done
    rows = {r["student"]: r for r in result.rows()}
    columns = _columns(result)
    final = {s: result.section_points(s) for s in rows}
    points = {s: {c.title: column_points(rows[s], c, final[s]) for c in columns} for s in rows}
    listed = [s for s in rows if result.member(s).on_roster is not False]
    done.left_out += [f"{s}: not on the roster" for s in rows if result.member(s).on_roster is False]
    if "moodle" in platforms:
        _moodle(result, out / "moodle", rows, listed, columns, final, points, html_by_student, write, done)
    if "canvas" in platforms:
        _canvas(result, out / "canvas", listed, columns, points, html_by_student, write, done)
    if "nbgrader" in platforms:
        _nbgrader(result, out / "nbgrader", html_by_student, write, done)
    return done


def _platforms(result) -> list[str]:
    found = {re.split(r"[_/]", k, maxsplit=1)[0] for m in result.members.values() for k in m.lms}
    if result.kind in ("moodle", "canvas", "nbgrader"):
        found.add(result.kind)
    return sorted(found & {"moodle", "canvas", "nbgrader"})


def _columns(result) -> list[Column]:
    from course_utils.grading import exercises

    settings = result.policy.lms
    scale = float(settings.get("scale_to", 0))
    cols = []
    for section in result.sections:
        exs = exercises(section)
        if settings.get("columns", "section") == "exercise":
            cols += [Column(settings.get("exercise_title", "Exercise {exercise}").format(exercise=e.id), section,
                            (e.id,), e.points, False, scale or e.points) for e in exs]
        else:
            total = sum(e.points for e in exs)
            cols.append(Column(settings.get("title", "Notebook {section}").format(section=section), section,
                               tuple(e.id for e in exs), total, True, scale or total))
    return cols


def _section_column(section: str, result) -> Column:
    """The whole section as one grade (a Moodle assignment's), on the ``scale_to`` scale if set."""
    from course_utils.grading import exercises

    total = sum(e.points for e in exercises(section))
    return Column(section, section, (), total, True, float(result.policy.lms.get("scale_to", 0)) or total)


def _moodle(result, folder, rows, listed, columns, final, points, pages, write, done) -> None:
    by_section: dict[str, list[dict]] = {s: [] for s in result.sections}
    people, files = [], {}
    for s in listed:
        who = result.member(s)
        ident = who.lms.get("moodle_identifier") or (
            f"Participant {who.lms['moodle_participant']}" if "moodle_participant" in who.lms else "")
        if ident:
            for section in result.sections:
                row = rows[s]
                late = f" ({row['late']})" if row["late"] else ""
                whole = _section_column(section, result)
                comment = f"Autograded: {_num(final[s][section])}/{whole.points} points{late}; see the feedback file."
                by_section[section].append({"identifier": ident, "name": who.name, "email": who.email,
                                            "grade": whole.scaled(final[s][section]),
                                            "modified": who.lms.get("moodle_modified", ""), "comment": comment})
            pid = ident.rsplit(" ", 1)[-1]
            folder_name = who.lms.get("moodle_folder") or f"Participant_{pid}_assignsubmission_file"
            files[f"{folder_name}/feedback.html"] = pages[s]
        else:
            done.left_out.append(f"{s}: no Moodle participant id (Moodle worksheet and feedback)")
        if who.email:
            people.append({"email": who.email, **points[s]})
        else:
            done.left_out.append(f"{s}: no email (Moodle's grade import)")
    for section, entries in by_section.items():
        if entries:
            maximum = _section_column(section, result).maximum
            done.files.append(write(folder / f"worksheet-{section}.csv", moodle_worksheet(section, entries, maximum)))
    if people:
        done.files.append(write(folder / "grades.csv", moodle_grades(columns, people)))
    if files:
        done.files.append(write(folder / "feedback.zip", feedback_zip(files)))


def _canvas(result, folder, listed, columns, points, pages, write, done) -> None:
    people, files = [], {}
    for s in listed:
        who = result.member(s)
        uid = who.lms.get("canvas_user") or (s if s.isdigit() else "")
        if not uid:
            done.left_out.append(f"{s}: no Canvas user id (Canvas's grade import)")
            continue
        people.append({"name": who.name or who.lms.get("canvas_name", ""), "id": uid,
                       "sis_user": who.lms.get("canvas_sis_user", ""), "sis_login": who.lms.get("canvas_sis_login", ""),
                       "section": who.lms.get("canvas_section", ""), **points[s]})
        prefixes = sorted({p for r in result.reports.get(s, []) if (p := canvas_prefix(r.notebook))})
        if prefixes:
            files[f"{prefixes[0]}feedback.html"] = pages[s]
        else:
            done.left_out.append(f"{s}: no submitted file to attach Canvas feedback to")
    if people:
        done.files.append(write(folder / "grades.csv", canvas_grades(columns, people,
                                                                     result.policy.lms.get("canvas_assignments", {}))))
    if files:
        done.files.append(write(folder / "feedback.zip", feedback_zip(files)))
