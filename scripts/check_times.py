"""Write build/check-times.json from make check's stage summary (stdin); `make bench` reports it.

    printf '%s\n' "${summary[@]}" | python scripts/check_times.py TOTAL_SECONDS
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path

LINE = re.compile(r"(.+?)\s+([0-9.]+) s\s+(ok|FAILED)$")


def main() -> None:
    stages = []
    for line in sys.stdin:
        match = LINE.match(line.rstrip())
        if match:
            stages.append({"name": match.group(1).strip(), "seconds": float(match.group(2)),
                           "ok": match.group(3) == "ok"})
    out = Path(__file__).resolve().parent.parent / "build" / "check-times.json"
    out.parent.mkdir(exist_ok=True)
    finished = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out.write_text(json.dumps({"stages": stages, "total_seconds": float(sys.argv[1]), "finished": finished},
                              indent=1) + "\n")


if __name__ == "__main__":
    main()
