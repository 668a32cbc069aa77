"""``course.toml``: each section's deadline and the late policy.

.. code-block:: toml

    timezone = "Europe/Berlin"        # of the deadlines below and of the LMS zip's dates

    [late]
    grace_minutes = 15                # late by at most this much: no penalty
    penalty_per_day = 10              # percent, per started day late (after the grace period)
    cap = 50                          # percent: the most lateness can cost; past it the work still counts
    of = "earned"                     # percent of the points earned ("earned") or of the maximum ("possible")

    [deadlines]
    01 = 2027-10-20T23:59:00          # a local time in `timezone`, or with an offset (…+02:00)

    [extensions.01]                   # a student's own deadline for a section (their gradebook id)
    100007 = 2027-10-24T23:59:00

A submission ``late`` after its deadline (``late > grace``) loses
``min(cap, penalty_per_day * ceil(late / 1 day))`` percent of its raw points (``of = "earned"``)
or of the section's maximum (``of = "possible"``, as Canvas's late policy does), never more
than it earned:

    penalty = min(raw, base * min(cap, p * ceil(late / 24 h)) / 100),    final = raw - penalty

rounded to two decimals. A notebook whose submission time is unknown (a plain folder)
gets no penalty, and the gradebook's ``late`` column says the time was unknown.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Policy", "Late", "load_policy", "NO_POLICY"]


@dataclass(frozen=True)
class Late:
    """How late one section's graded notebook was, and what it cost.

    seconds: how late (negative or 0: on time); percent and points: the penalty; text: the gradebook's words.
    """

    submitted: datetime | None
    seconds: float
    percent: float
    points: float
    text: str


@dataclass(frozen=True)
class Policy:
    """Deadlines (aware datetimes, by section) and the late policy of ``course.toml``."""

    timezone: tzinfo = ZoneInfo("UTC")
    deadlines: dict[str, datetime] = field(default_factory=dict)
    grace: timedelta = timedelta(0)
    penalty_per_day: float = 0.0
    cap: float = 100.0
    source: str = ""  # the file it came from, or "" for none
    #: [lms]: columns ("section" or "exercise"), title ("Notebook {section}"), exercise_title, canvas_assignments,
    #: scale_to (each LMS column out of this many points instead of the course's)
    lms: dict = field(default_factory=dict)
    #: "earned" (a percent of the raw points) or "possible" (of the section's maximum)
    of: str = "earned"
    #: section -> student -> their own deadline
    extensions: dict[str, dict[str, datetime]] = field(default_factory=dict)

    def late(self, section: str, submitted: datetime | None, raw: float, possible: float = 0.0,
             student: str = "") -> Late:
        """The penalty on ``raw`` of ``possible`` points of ``section`` handed in by ``student`` at ``submitted``
        (see the module's formula)."""
        deadline = self.extensions.get(section, {}).get(student) or self.deadlines.get(section)
        if deadline is None:
            return Late(submitted, 0.0, 0.0, 0.0, "")
        if submitted is None:
            return Late(None, 0.0, 0.0, 0.0, f"{section}: submission time unknown, no penalty")
        seconds = (submitted - deadline).total_seconds()
        if seconds <= 0:
            return Late(submitted, seconds, 0.0, 0.0, "")
        if seconds <= self.grace.total_seconds():
            return Late(submitted, seconds, 0.0, 0.0, f"{section}: {_duration(seconds)} late, within the grace period")
        days = math.ceil(seconds / 86400)
        percent = min(self.cap, self.penalty_per_day * days)
        points = round(min(raw, (possible if self.of == "possible" else raw) * percent / 100), 2)
        return Late(submitted, seconds, percent, points,
                    f"{section}: {_duration(seconds)} late ({days} day{'s' * (days != 1)}), -{_num(percent)}%")

    def to_dict(self) -> dict:
        return {"timezone": str(self.timezone), "deadlines": {s: d.isoformat() for s, d in self.deadlines.items()},
                "grace_s": self.grace.total_seconds(), "penalty_per_day": self.penalty_per_day, "cap": self.cap,
                "source": self.source, "lms": self.lms, "of": self.of,
                "extensions": {s: {k: d.isoformat() for k, d in e.items()} for s, e in self.extensions.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> Policy:
        return cls(ZoneInfo(d["timezone"]), {s: datetime.fromisoformat(v) for s, v in d["deadlines"].items()},
                   timedelta(seconds=d["grace_s"]), d["penalty_per_day"], d["cap"], d.get("source", ""),
                   d.get("lms", {}), d.get("of", "earned"),
                   {s: {k: datetime.fromisoformat(v) for k, v in e.items()}
                    for s, e in d.get("extensions", {}).items()})


NO_POLICY = Policy()


def _num(x: float) -> str:
    return f"{x:g}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    d, rem = divmod(minutes, 1440)
    h, m = divmod(rem, 60)
    parts = [f"{d} d"] * bool(d) + [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m and not d)
    return " ".join(parts) or f"{int(seconds)} s"


def _number(table: dict, key: str, default: float, where: str, low: float = 0.0, high: float = math.inf) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{where}: {key} must be a number between {low:g} and {high:g}, got {value!r}")
    return float(value)


def load_policy(path: Path | None) -> Policy:
    """Read ``course.toml`` (None, or a file that does not exist: no deadlines).

    Raises:
        ValueError: the file is not TOML, or a field has the wrong type or range (the message names it).
    """
    if path is None or not Path(path).exists():
        return NO_POLICY
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{where} is not valid TOML: {err}") from None
    _known(data, ("timezone", "late", "deadlines", "extensions", "lms"), where)
    try:
        tz = ZoneInfo(str(data.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{where}: timezone {data.get('timezone')!r} is not a zone name such as "
                         "'Europe/Berlin' or 'UTC'") from None
    late = data.get("late", {})
    _known(late, ("grace_minutes", "penalty_per_day", "cap", "of"), f"{where} [late]")
    _choice(late, "of", ("earned", "possible"), f"{where} [late]")
    grace = _number(late, "grace_minutes", 0, f"{where} [late]")
    per_day = _number(late, "penalty_per_day", 0, f"{where} [late]", 0, 100)
    cap = _number(late, "cap", 100, f"{where} [late]", 0, 100)
    deadlines = {str(s).zfill(2): _deadline(w, tz, f"{where} [deadlines]: {s}")
                 for s, w in data.get("deadlines", {}).items()}
    extensions = {}
    for section, table in data.get("extensions", {}).items():
        if not isinstance(table, dict):
            raise ValueError(f"{where} [extensions]: give each section a table of student = deadline, e.g. "
                             "[extensions.01] then 100007 = 2027-10-24T23:59:00")
        extensions[str(section).zfill(2)] = {str(k): _deadline(w, tz, f"{where} [extensions.{section}]: {k}")
                                             for k, w in table.items()}
    return Policy(tz, deadlines, timedelta(minutes=grace), per_day, cap, where, _lms(data.get("lms", {}), where),
                  late.get("of", "earned"), extensions)


def _known(table: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(unknown)} (expected {', '.join(allowed)})")


def _choice(table: dict, key: str, options: tuple[str, ...], where: str) -> None:
    if table.get(key, options[0]) not in options:
        raise ValueError(f"{where}: {key} must be " + " or ".join(f'"{o}"' for o in options)
                         + f", got {table[key]!r}")


def _deadline(when, tz: tzinfo, where: str) -> datetime:
    """A TOML date-time (local: in ``tz``) or date (its last second)."""
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=tz)
    if isinstance(when, date):
        return datetime.combine(when, time(23, 59, 59), tz)
    raise ValueError(f"{where} must be a date-time such as 2027-10-20T23:59:00, got {when!r}")


def _lms(table: dict, where: str) -> dict:
    """The [lms] table: which columns the grade-import CSVs get, their titles, Canvas's assignment ids."""
    _known(table, ("columns", "title", "exercise_title", "canvas_assignments", "scale_to"), f"{where} [lms]")
    scale = table.get("scale_to", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
        raise ValueError(f"{where} [lms]: scale_to must be a positive number (the LMS's maximum grade, e.g. 100), "
                         f"got {scale!r}")
    _choice(table, "columns", ("section", "exercise"), f"{where} [lms]")
    for key, placeholder in (("title", "{section}"), ("exercise_title", "{exercise}")):
        if key in table and (not isinstance(table[key], str) or placeholder not in table[key]):
            raise ValueError(f"{where} [lms]: {key} must be a text containing {placeholder}, got {table[key]!r}")
    ids = table.get("canvas_assignments", {})
    if not isinstance(ids, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in ids.values()):
        raise ValueError(f"{where} [lms.canvas_assignments]: each section needs its Canvas assignment id, a "
                         f"number (01 = 4567), got {ids!r}")
    return {**table, "canvas_assignments": {str(k).zfill(2): v for k, v in ids.items()}}
