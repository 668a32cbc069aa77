"""Record the stage times of scripts/check.sh in build/check-times.json (``make bench`` reports them).

    printf '%s\n' "${summary[@]}" | python scripts/check_times.py TOTAL_SECONDS

A run of some stages (``make check-browser``) replaces those stages' times and keeps the others', so the
file always holds the latest time of every stage; ``last_run`` says which stages the newest run had.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path

LINE = re.compile(r"(.+?)\s+([0-9.]+) s\s+(ok|FAILED)$")
#: The stages of scripts/check.sh; a stage's steps are named "stage" or "stage: what".
STAGES = ("lint", "unit", "integration", "notebook", "colab", "browser")
OUT = Path(__file__).resolve().parent.parent / "build" / "check-times.json"


def main() -> None:
    finished = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    new = []
    for line in sys.stdin:
        match = LINE.match(line.rstrip())
        if match:
            new.append({"name": match.group(1).strip(), "seconds": float(match.group(2)),
                        "ok": match.group(3) == "ok", "finished": finished})
    try:
        old = json.loads(OUT.read_text()).get("stages", [])
    except (OSError, ValueError):
        old = []
    names = {s["name"] for s in new}
    stages = [s for s in old if s.get("name") not in names and s.get("name", "").split(":")[0] in STAGES] + new
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({
        "stages": stages,
        "total_seconds": round(sum(s["seconds"] for s in stages), 1),
        "finished": finished,
        "last_run": {"stages": [s["name"] for s in new], "seconds": float(sys.argv[1])},
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
