"""Sections, and the one registry type behind exercises, demos and trained models.

A section is a package ``course_utils.sNN_slug`` (``s05_flow_matching``). Each may hold
modules of known roles: ``checks`` (its graded exercises), ``plots``, ``widgets`` (its
demos) and ``models`` (its trained models). Those modules register what they define in a
:class:`Registry` when imported, and :func:`discover` imports the modules of one role in
every section found on disk, so a new section is one new folder and no list is edited.

Example::

    from course_utils.core.registry import discover, section_id
    section_id(5)              # "05"
    discover("checks")         # ["course_utils.s01_kl_elbo.checks", ...]
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["ROLES", "SECTION_FOLDER", "Registry", "defined_by", "discover", "section_id", "section_packages"]

#: The roles a section module can play; :func:`discover` imports one role at a time.
ROLES = ("checks", "plots", "widgets", "models")
_PACKAGE = "course_utils"
#: A section's folder name, in the package and in tests/: ``s05_flow_matching`` (group 1: the id ``05``).
SECTION_FOLDER = re.compile(r"^s(\d\d)_[a-z][a-z0-9_]*$")
_ID = re.compile(r"^\d{1,2}$")

T = TypeVar("T")


def section_id(section) -> str:
    """A section's two-digit id: ``5``, ``"5"`` and ``"05"`` all give ``"05"``.

    Raises:
        ValueError: ``section`` is not a section number from 0 to 99 (e.g. ``"five"`` or ``"123"``).
    """
    text = str(section).strip()
    if isinstance(section, bool) or not _ID.match(text):
        raise ValueError(f"a section is a number such as 5 or '05', got {section!r}")
    return text.zfill(2)


def section_packages() -> dict[str, str]:
    """Every section package on disk, by id: ``{"01": "course_utils.s01_kl_elbo", ...}``, in order."""
    root = Path(__file__).resolve().parent.parent
    found = {}
    for info in pkgutil.iter_modules([str(root)]):
        match = SECTION_FOLDER.match(info.name)
        if info.ispkg and match:
            found[match.group(1)] = f"{_PACKAGE}.{info.name}"
    return dict(sorted(found.items()))


def discover(role: str, section=None) -> list[str]:
    """Import the ``role`` module (``"checks"``, ``"widgets"``, ...) of every section that has one.

    Args:
        role: one of :data:`ROLES`.
        section: only this section's (an id such as ``"05"``); None for all.

    Returns:
        The names of the modules imported. An error inside one is raised, not hidden.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    wanted = None if section is None else section_id(section)
    names = []
    for sid, package in section_packages().items():
        if wanted is not None and sid != wanted:
            continue
        if importlib.util.find_spec(f"{package}.{role}") is not None:
            names.append(importlib.import_module(f"{package}.{role}").__name__)
    return names


def defined_by(fn, *details) -> tuple:
    """Where ``fn`` is defined, (module, qualified name), then ``details``: an entry's origin for :class:`Registry`."""
    return (getattr(fn, "__module__", None), getattr(fn, "__qualname__", None), *details)


class Registry(Generic[T]):
    """Entries of one kind (exercises, demos, trained models), each belonging to a section.

    Args:
        what: what an entry is, for messages ("exercise", "demo", "model").
        key: the entry's unique key (an exercise's id, a demo's (section, name)).
        order: the sort key of :meth:`all`.
        origin: where an entry comes from, as :func:`defined_by` gives it: registering the same key
            again with the same origin (a module reload) replaces the entry; with another one, raises.
    """

    def __init__(self, what: str, key: Callable[[T], Hashable], order: Callable[[T], tuple],
                 origin: Callable[[T], object]):
        self.what = what
        self._key, self._order, self._origin = key, order, origin
        self._entries: dict[Hashable, T] = {}

    def add(self, entry: T) -> T:
        """Register ``entry``; a second, different definition of the same key raises ValueError."""
        key = self._key(entry)
        old = self._entries.get(key)
        if old is not None and self._origin(old) != self._origin(entry):
            module, name = self._origin(old)[:2]
            raise ValueError(f"{self.what} {key!r} is registered twice (first by {module}.{name})")
        self._entries[key] = entry
        return entry

    def get(self, key: Hashable) -> T:
        """The entry of ``key``; a KeyError names the known keys."""
        try:
            return self._entries[key]
        except KeyError:
            known = ", ".join(str(self._key(e)) for e in self.all()) or "none"
            raise KeyError(f"no {self.what} {key!r}; known {self.what}s: {known}") from None

    def remove(self, key: Hashable) -> None:
        """Forget one entry (tests register throwaway entries)."""
        self._entries.pop(key, None)

    def all(self, section=None) -> list[T]:
        """Every entry, sorted; only those of ``section`` (any form :func:`section_id` takes) if given."""
        entries = self._entries.values()
        if section is not None:
            wanted = section_id(section)
            entries = [e for e in entries if e.section == wanted]
        return sorted(entries, key=self._order)

    def copy(self) -> Registry[T]:
        """A registry with the same entries (a test adds throwaway entries to a copy, leaving this one alone)."""
        new = Registry(self.what, self._key, self._order, self._origin)
        new._entries = dict(self._entries)
        return new

    def sections(self) -> list[str]:
        """The sections that have at least one entry, in order."""
        return sorted({e.section for e in self._entries.values()})

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._entries)
