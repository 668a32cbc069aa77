"""The class list, and which submission is whose.

:func:`read_roster` reads any of:

- a plain CSV with the columns ``id``, ``name``, ``email`` and, optionally, ``submitted`` (an ISO 8601
  time, e.g. ``2027-10-20T23:12:00+02:00``, or a local time in the course's zone); more columns are ignored;
- Moodle's grading worksheet (an assignment's "Download grading worksheet"): ``Identifier``
  ("Participant 1234"), ``Full name``, ``Email address``, and ``Last modified (submission)``
  ("Wednesday, 20 October 2027, 11:12 PM", in the zone of whoever downloaded it: the course's);
- Canvas's gradebook export: ``Student`` ("Doe, Jane"), ``ID`` (the Canvas user id),
  ``SIS User ID``, ``SIS Login ID``, ``Section`` (its "Points Possible" row is skipped).

:func:`match` pairs each submission with a roster entry: by id (Moodle's participant id,
Canvas's user id, nbgrader's student id, a folder's name), else by email, else by the
name written the same way (case, accents and punctuation aside; Canvas writes names
as "doejane" in its file names).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

__all__ = ["Person", "read_roster", "match", "name_key"]


@dataclass(frozen=True)
class Person:
    """One student on the roster; ``lms`` keeps what the platform's import needs (e.g. Canvas's section)."""

    id: str
    name: str = ""
    email: str = ""
    lms: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    submitted: datetime | None = None  # when the platform says they handed in (time-zone aware)


def _when(text: str, tz: tzinfo, where: str) -> datetime | None:
    """An ISO 8601 time, or Moodle's "Wednesday, 20 October 2027, 11:12 PM"; "" or "-": none."""
    text = text.strip()
    if text in ("", "-"):
        return None
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%A, %d %B %Y, %I:%M %p")):
        try:
            when = parse(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=tz)
    raise ValueError(f"{where}: cannot read the time {text!r}: expected ISO 8601 (2027-10-20T23:12:00+02:00) or "
                     "Moodle's 'Wednesday, 20 October 2027, 11:12 PM'")


def name_key(name: str) -> str:
    """A name with case, accents, spaces and punctuation removed ("Doe, Jane" and "Jane Doe" differ in order)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def _header(row: list[str]) -> dict[str, int]:
    return {h.strip().lstrip("\ufeff").lower(): i for i, h in enumerate(row)}


def read_roster(path: Path, tz: tzinfo = UTC) -> list[Person]:
    """The students of a roster file (see the module's docstring for the formats).

    ``tz``: the zone of times written without one (the course's, from ``course.toml``).

    Raises:
        ValueError: the file is missing, not a CSV of one of the formats, or lists an id twice.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"roster {path} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"roster {path} is not UTF-8 text: export it as CSV (UTF-8)") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValueError(f"roster {path} is empty: expected a header with id, name, email")
    cols = _header(rows[0])

    def get(row, *names):
        for n in names:
            if n in cols and cols[n] < len(row):
                return row[cols[n]].strip()
        return ""

    people = []
    if "identifier" in cols:  # Moodle's grading worksheet
        for row in rows[1:]:
            ident = get(row, "identifier")
            m = re.search(r"(\d+)$", ident)
            if m:
                people.append(Person(m.group(1), get(row, "full name"), get(row, "email address"), {
                    "moodle_identifier": ident, "moodle_modified": get(row, "last modified (grade)")},
                    _when(get(row, "last modified (submission)"), tz, f"roster {path}, {ident}")))
    elif {"student", "id"} <= set(cols):  # Canvas's gradebook export
        for row in rows[1:]:
            uid = get(row, "id")
            if uid.isdigit():  # the "Points Possible" row has none
                people.append(Person(uid, get(row, "student"), get(row, "email"), {
                    "canvas_sis_user": get(row, "sis user id"), "canvas_sis_login": get(row, "sis login id"),
                    "canvas_section": get(row, "section")}, _when(get(row, "submitted"), tz, f"roster {path}, {uid}")))
    elif "id" in cols:
        for row in rows[1:]:
            if any(cell.strip() for cell in row):
                people.append(Person(get(row, "id"), get(row, "name"), get(row, "email"), {},
                                     _when(get(row, "submitted"), tz, f"roster {path}, {get(row, 'id')}")))
    else:
        raise ValueError(f"roster {path}: the header {rows[0]} has no id column; expected a CSV with the columns "
                         "id, name, email, or Moodle's grading worksheet, or Canvas's gradebook export")
    seen: set[str] = set()
    for p in people:
        if not p.id:
            raise ValueError(f"roster {path}: a row has no id ({p.name or p.email or 'empty'})")
        if p.id in seen:
            raise ValueError(f"roster {path}: the id {p.id!r} is listed twice")
        seen.add(p.id)
    return people


def match(keys: dict[str, tuple[str, str]], roster: list[Person]) -> dict[str, Person | None]:
    """Each submitting student's roster entry, or None.

    Args:
        keys: submission key -> (name, email) as the submissions give them.
    Returns:
        key -> the Person it matches (by id, then email, then name), or None when it is not on the roster.
    """
    by_id = {p.id: p for p in roster}
    by_email = {p.email.lower(): p for p in roster if p.email}
    by_name: dict[str, list[Person]] = {}
    for p in roster:
        for form in _name_forms(p.name):
            by_name.setdefault(form, []).append(p)
    out: dict[str, Person | None] = {}
    for key, (name, email) in keys.items():
        found = by_id.get(key) or (by_email.get(email.lower()) if email else None)
        if found is None and name:
            candidates = {p.id: p for p in by_name.get(name_key(name), [])}
            found = next(iter(candidates.values())) if len(candidates) == 1 else None
        out[key] = found
    return out


def _name_forms(name: str) -> list[str]:
    """"Doe, Jane" is also "Jane Doe" (as Moodle writes it) and "doejane" (as Canvas's file names do)."""
    forms = [name_key(name)]
    if "," in name:
        last, first = name.split(",", 1)
        forms.append(name_key(f"{first} {last}"))
    return forms
