"""Time the class grader: N generated submissions of one section, with 1, 2, ... workers.

    .venv/bin/python scripts/bench_grading.py [--n 100] [--section 01] [--jobs 1 2] [--out build/bench_grading.json]

Each run grades from scratch (``regrade``), checks every student's total against
the answers the generator wrote, and reports seconds, notebooks per minute and
the speed-up over one worker. A last run with the cache warm shows a re-run's cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from course_tools.autograde import synthetic
from course_tools.autograde.gradebook import grade_class
from course_tools.grade import DEFAULT_SALT
from course_utils.grading.compare import set_hidden_salt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--section", default="01")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--out", type=Path, default=Path("build/bench_grading.json"))
    args = parser.parse_args()
    set_hidden_salt(DEFAULT_SALT)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        subs, grades = Path(tmp) / "class", Path(tmp) / "grades"
        totals = synthetic.random_class(subs, args.section, args.n)
        for jobs in args.jobs + [args.jobs[-1]]:
            warm = len(runs) == len(args.jobs)
            start = time.perf_counter()
            result = grade_class(subs, grades, args.section, jobs=jobs, regrade=not warm, salt=DEFAULT_SALT,
                                 progress=False)
            seconds = time.perf_counter() - start
            with (grades / "gradebook.csv").open() as f:
                got = {r["student"]: int(r["total"]) for r in csv.DictReader(f)}
            wrong = sorted(s for s in totals if got.get(s) != totals[s])
            runs.append({"jobs": jobs, "cache": "warm" if warm else "cold", "seconds": round(seconds, 1),
                         "per_minute": round(60 * args.n / seconds, 1), "wrong_totals": len(wrong),
                         "reused": result.reused})
            print(f"{args.n} notebooks, {jobs} worker(s), {runs[-1]['cache']} cache: {seconds:.1f} s "
                  f"({runs[-1]['per_minute']}/min), wrong totals: {len(wrong)}", flush=True)
    base = runs[0]["seconds"]
    for run in runs:
        run["speedup"] = round(base / run["seconds"], 2)
    report = {"section": args.section, "n": args.n, "cpus": os.cpu_count(), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if any(r["wrong_totals"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
