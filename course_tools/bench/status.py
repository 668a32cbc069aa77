"""The statuses a ``make bench`` figure can have, and the progress log."""

from __future__ import annotations

import sys

OK, AIM, MISS, ERROR = "ok", "over aim", "MISS", "ERROR"


def log(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)
