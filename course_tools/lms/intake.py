"""A class's submissions, as the learning platform hands them over.

:func:`read_submissions` takes any of these and gives one :class:`Entrant` per student,
keyed by the platform's own id (never by a hand-made folder name):

- **Moodle zip**: ``Full Name_<participant id>_assignsubmission_file/<file>`` (Moodle 4.1 and later;
  earlier ones end the folder in ``_file_``), or ``..._assignsubmission_file_<file>`` when not downloaded
  "in folders". The id is the assignment's participant id (Moodle's ``assign_user_mapping``), the one
  its grading worksheet calls "Participant 1234" and its feedback-zip upload reads back.
- **Canvas zip**: ``<name>_<user id>_<attachment id>_<file>``, with ``LATE`` after the name for a late
  submission (``doejane_LATE_12345_67890_01_kl_elbo.ipynb``); the user id is Canvas's.
- **nbgrader**: ``submitted/<student>/<assignment>/*.ipynb`` and ``timestamp.txt`` (nbgrader's
  ``"%Y-%m-%d %H:%M:%S.%f %Z"``, UTC unless it names a zone).
- **a folder**: ``<student>/*.ipynb`` or ``<student>.ipynb``.

Submission times: nbgrader's ``timestamp.txt``. Neither Moodle nor Canvas writes a submission's
time into its zip (Moodle's ``zip_writer`` and Canvas's ``ContentZipper`` pass none, so an entry's
date is when the zip was made), so their times come from the roster: Moodle's grading worksheet
has "Last modified (submission)", and any roster may have a ``submitted`` column (see
:mod:`.roster`). Canvas's ``LATE`` mark is kept either way.

A zip is read in memory, never extracted, so a member's path cannot reach outside
(no "zip slip"); a member larger than :data:`MAX_NOTEBOOK_BYTES` unpacked is refused
with a problem line, as is a file that claims to be a zip and is not.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Notebook", "Entrant", "Intake", "read_submissions", "MAX_NOTEBOOK_BYTES"]

#: A notebook bigger than this (unpacked) is not read: a course notebook with outputs is a few MB.
MAX_NOTEBOOK_BYTES = 64 * 2**20
#: A zip whose notebooks unpack to more than this in all is refused (a zip bomb, or the wrong file).
MAX_ZIP_BYTES = 4 * 2**30

#: Moodle: "Jane Doe_1234_assignsubmission_file/01_kl_elbo.ipynb" (4.1+; "..._file_/" before), or flat
#: "Jane Doe_1234_assignsubmission_file_01_kl_elbo.ipynb"; the folder group keeps the form Moodle wrote.
MOODLE = re.compile(r"^(?P<folder>(?P<name>[^/]*?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+))"
                    r"(?:(?P<under>_?)/(?P<path>.+)|_(?P<flat>[^/]+))$")
#: nbgrader's files beside a submission that its ``release_feedback`` reads from the feedback folder.
NBGRADER_KEPT = ("timestamp.txt", "submission_secret.txt")


@dataclass
class Notebook:
    """One submitted notebook: where it came from, its bytes, and when it was handed in.

    label: its path in the folder or the archive (shown in the gradebook and feedback);
    path: the file on disk, for a folder (the grader warns when it changes while being graded);
    submitted: the submission time (time-zone aware), or None where the platform gives none.
    """

    label: str
    data: bytes
    path: Path | None = None
    submitted: datetime | None = None
    late_marked: bool = False  # Canvas put LATE in the file's name


@dataclass
class Entrant:
    """One student's submission: the platform's id, what it knows of them, and their notebooks.

    lms: what the way back needs, e.g. ``{"moodle_folder": "Jane Doe_1234_assignsubmission_file_"}`` or
    ``{"canvas_name": "doejane", "canvas_user": "12345"}``.
    """

    key: str
    notebooks: list[Notebook] = field(default_factory=list)
    name: str = ""
    email: str = ""
    lms: dict[str, str] = field(default_factory=dict)


@dataclass
class Intake:
    """What :func:`read_submissions` found: the platform, the students, and what could not be read."""

    kind: str  # "moodle", "canvas", "nbgrader" or "folder"
    source: Path
    entrants: list[Entrant]
    problems: list[str] = field(default_factory=list)


def read_submissions(path: Path) -> Intake:
    """Read a class's submissions from a Moodle or Canvas zip, an nbgrader tree, or a folder.

    Args:
        path: the downloaded ``.zip``, an nbgrader course folder (holding ``submitted/``) or its
            ``submitted/`` folder, or a folder of students.

    Raises:
        ValueError: the path does not exist, or is a file that is not a zip of either platform.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist: give a folder of submissions, an nbgrader course folder, or "
                         "the zip of Moodle's or Canvas's \"download all submissions\"")
    if path.is_file():
        return _read_zip(path)
    if (path / "submitted").is_dir():
        return _read_nbgrader(path / "submitted")
    if path.name == "submitted" and _looks_nbgrader(path):
        return _read_nbgrader(path)
    return _read_folder(path)


# --- folders -----------------------------------------------------------------------------------------------------


def _hidden(parts) -> bool:
    return any(p.startswith((".", "__")) for p in parts)


def _read_folder(folder: Path) -> Intake:
    entrants: dict[str, Entrant] = {}
    for entry in sorted(folder.iterdir()):
        if _hidden([entry.name]):
            continue
        if entry.is_dir():
            found = sorted(p for p in entry.rglob("*.ipynb") if not _hidden(p.relative_to(entry).parts))
            st = entrants.setdefault(entry.name, Entrant(entry.name))
            st.notebooks += [Notebook(str(p.relative_to(folder)), p.read_bytes(), p) for p in found]
        elif entry.suffix == ".ipynb":
            st = entrants.setdefault(entry.stem, Entrant(entry.stem))
            st.notebooks.append(Notebook(entry.name, entry.read_bytes(), entry))
    return Intake("folder", folder, list(entrants.values()))


def _looks_nbgrader(submitted: Path) -> bool:
    return any(p.name == "timestamp.txt" for p in submitted.glob("*/*/timestamp.txt"))


def parse_nbgrader_timestamp(text: str) -> datetime:
    """nbgrader's ``timestamp.txt``: "2027-10-20 21:14:03.123456 UTC", or with a zone name
    ("... America/Los_Angeles") or an offset ("... +02:00"); without a zone, UTC (as nbgrader reads it).

    Raises:
        ValueError: not such a time.
    """
    text = text.strip()
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)(?:\s*(\S+))?", text)
    if not m:
        raise ValueError(f"not an nbgrader timestamp: {text[:60]!r} (expected e.g. '2027-10-20 21:14:03.123456 UTC')")
    when = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}")
    zone = m.group(3)
    if zone in (None, "UTC", "Z", "GMT"):
        return when.replace(tzinfo=UTC)
    if re.fullmatch(r"[+-]\d\d:?\d\d", zone):
        return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone[:3]}:{zone[-2:]}")
    try:
        return when.replace(tzinfo=ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an nbgrader timestamp: unknown time zone {zone!r} in {text[:60]!r}") from None


def _read_nbgrader(submitted: Path) -> Intake:
    """``submitted/<student>/<assignment>/``: the student's id is the folder's name, the time is timestamp.txt."""
    entrants, problems = [], []
    for student in sorted(p for p in submitted.iterdir() if p.is_dir() and not _hidden([p.name])):
        st = Entrant(student.name)
        for assignment in sorted(p for p in student.iterdir() if p.is_dir() and not _hidden([p.name])):
            when = None
            stamp = assignment / "timestamp.txt"
            if stamp.is_file():
                try:
                    when = parse_nbgrader_timestamp(stamp.read_text(errors="replace"))
                except ValueError as err:
                    problems.append(f"{stamp.relative_to(submitted)}: {err}")
            for name in NBGRADER_KEPT:  # what `nbgrader release_feedback` needs beside the feedback page
                if (assignment / name).is_file():
                    st.lms[f"nbgrader/{assignment.name}/{name}"] = (assignment / name).read_text(errors="replace")
            for nb in sorted(p for p in assignment.rglob("*.ipynb") if not _hidden(p.relative_to(assignment).parts)):
                st.notebooks.append(Notebook(str(nb.relative_to(submitted)), nb.read_bytes(), nb, when))
        entrants.append(st)
    return Intake("nbgrader", submitted, entrants, problems)


# --- zips --------------------------------------------------------------------------------------------------------


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, problems: list[str]) -> bytes | None:
    if info.file_size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{info.filename}: {info.file_size / 2**20:.0f} MB unpacked, more than a notebook can be "
                        f"({MAX_NOTEBOOK_BYTES // 2**20} MB); not read")
        return None
    with zf.open(info) as f:
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        problems.append(f"{info.filename}: larger unpacked than its header says; not read")
        return None
    return data


def _read_zip(path: Path) -> Intake:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is a file but not a zip: give the zip of Moodle's or Canvas's \"download all "
                         "submissions\", or a folder") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not _hidden(i.filename.split("/"))]
        unpacked = sum(i.file_size for i in infos if i.filename.endswith(".ipynb"))
        if unpacked > MAX_ZIP_BYTES:
            raise ValueError(f"{path}: its notebooks unpack to {unpacked / 2**30:.1f} GB, more than a class's "
                             f"({MAX_ZIP_BYTES / 2**30:.0f} GB); not read")
        if any(MOODLE.match(i.filename) for i in infos):
            return _read_moodle(path, zf, infos)
        if any(canvas_name(i.filename) for i in infos):
            return _read_canvas(path, zf, infos)
    raise ValueError(f"{path}: not a Moodle or Canvas submissions zip: no file is named like Moodle's "
                     "'Full Name_1234_assignsubmission_file_/...' or Canvas's 'name_12345_67890_file.ipynb'")


def _read_moodle(path: Path, zf, infos) -> Intake:
    entrants: dict[str, Entrant] = {}
    problems = []
    for info in infos:
        m = MOODLE.match(info.filename)
        if not m:
            if info.filename.endswith(".ipynb"):
                problems.append(f"{info.filename}: not named as Moodle names a submission; skipped")
            continue
        folder = m["folder"] + (m["under"] or "")
        st = entrants.setdefault(m["id"], Entrant(m["id"], name=m["name"], lms={"moodle_folder": folder,
                                                                           "moodle_participant": m["id"]}))
        if m["plugin"] == "file":
            st.lms["moodle_folder"] = folder  # feedback goes beside the files
        if not info.filename.endswith(".ipynb"):
            continue  # an online text, a PDF: nothing to grade
        data = _member(zf, info, problems)
        if data is not None:
            st.notebooks.append(Notebook(info.filename, data))
    return Intake("moodle", path, [entrants[k] for k in sorted(entrants, key=int)], problems)


@dataclass(frozen=True)
class CanvasName:
    """What a Canvas download's file name says: ``<name>_[LATE_]<user id>_<attachment id>_<file>``."""

    name: str  # the sortable name, lower case ("doejane"); "anon" under anonymous grading
    user: str  # the Canvas user id, or "anon_<anonymous id>"
    attachment: str
    file: str
    late: bool
    prefix: str  # everything before <file>: what Canvas's re-upload reads the ids from


def canvas_name(filename: str) -> CanvasName | None:
    """Read a Canvas file name as Canvas's own re-upload does (``Assignment#infer_comment_context_from_filename``):
    split on "_", drop "LATE"; after "anon" come the anonymous id and the attachment id, otherwise the
    first two all-digit parts are the user id and the attachment id. None: not a Canvas name."""
    if "/" in filename:
        return None
    parts = filename.split("_")
    kept = [(i, p) for i, p in enumerate(parts) if p != "LATE"]
    if kept and kept[0][1] == "anon" and len(kept) >= 4 and kept[2][1].isdigit():
        (_, name), (_, anon), (j, attachment) = kept[:3]
        user = f"anon_{anon}"
    else:
        digits = [(i, p) for i, p in kept if p.isdigit()]
        if len(digits) < 2 or digits[1][0] >= len(parts) - 1 or digits[0][0] == 0:
            return None
        (i, user), (j, attachment) = digits[:2]
        if j != i + 1:
            return None
        name = "_".join(p for p in parts[:i] if p != "LATE")
    return CanvasName(name, user, attachment, "_".join(parts[j + 1:]), "LATE" in parts[:j],
                      "_".join(parts[:j + 1]) + "_")


def _read_canvas(path: Path, zf, infos) -> Intake:
    entrants: dict[str, Entrant] = {}
    problems = []
    for info in infos:
        c = canvas_name(info.filename)
        if c is None:
            if info.filename.endswith(".ipynb"):
                problems.append(f"{info.filename}: not named as Canvas names a submission; skipped")
            continue
        st = entrants.setdefault(c.user, Entrant(c.user, name=c.name, lms={"canvas_name": c.name,
                                                                           "canvas_user": c.user}))
        if not c.file.endswith(".ipynb"):
            continue
        data = _member(zf, info, problems)
        if data is not None:
            st.notebooks.append(Notebook(info.filename, data, late_marked=c.late))
    order = sorted(entrants, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return Intake("canvas", path, [entrants[k] for k in order], problems)
