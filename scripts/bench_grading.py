"""Time the class grader: N generated submissions of one section, with 1, 2, ... workers.

    .venv/bin/python scripts/bench_grading.py [--n 100] [--section 01] [--jobs 1 2] [--out build/bench_grading.json]
    .venv/bin/python scripts/bench_grading.py --n 200 --shards 4 [--jobs 2]

Each run grades from scratch (``regrade``), checks every student's total against
the answers the generator wrote, and reports seconds, notebooks per minute and
the speed-up over one worker. A last run with the cache warm shows a re-run's cost.

``--shards N`` instead grades the class as N shards, one after another here (on a
cluster they run at once, one per machine), each with ``--jobs`` workers, then
merges them; it reports each shard's time, the merge's, and what a cluster of N
such machines would take (the slowest shard plus the merge).
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
from course_tools.autograde.gradebook import grade_class, merge_shards
from course_tools.grade import DEFAULT_SALT
from course_utils.grading.compare import set_hidden_salt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--section", default="01")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--out", type=Path, default=Path("build/bench_grading.json"))
    parser.add_argument("--shards", type=int, help="grade in this many shards and merge them")
    args = parser.parse_args()
    set_hidden_salt(DEFAULT_SALT)
    if args.shards:
        return sharded(args)
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


def _totals(path: Path) -> dict[str, int]:
    with path.open() as f:
        return {r["student"]: int(r["total"]) for r in csv.DictReader(f)}


def sharded(args) -> int:
    """Grade a generated class in ``args.shards`` shards, then merge; check the totals."""
    jobs = args.jobs[-1]
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "class"
        totals = synthetic.random_class(subs, args.section, args.n)
        shards = []
        for i in range(1, args.shards + 1):
            start = time.perf_counter()
            result = grade_class(subs, Path(tmp) / f"shard{i}", args.section, jobs=jobs, salt=DEFAULT_SALT,
                                 progress=False, shard=(i, args.shards))
            notebooks = sum(len(rs) for rs in result.reports.values())
            shards.append({"shard": i, "notebooks": notebooks, "seconds": round(time.perf_counter() - start, 1)})
            print(f"shard {i}/{args.shards}: {notebooks} notebooks, {jobs} worker(s): {shards[-1]['seconds']} s",
                  flush=True)
        start = time.perf_counter()
        merge_shards([Path(tmp) / f"shard{i}" for i in range(1, args.shards + 1)], Path(tmp) / "grades")
        merge = round(time.perf_counter() - start, 1)
        got = _totals(Path(tmp) / "grades" / "gradebook.csv")
    wrong = sorted(s for s in totals if got.get(s) != totals[s])
    slowest = max(s["seconds"] for s in shards)
    report = {"section": args.section, "n": args.n, "cpus": os.cpu_count(), "jobs": jobs, "shards": shards,
              "merge_seconds": merge, "cluster_seconds": round(slowest + merge, 1),
              "one_machine_seconds": round(sum(s["seconds"] for s in shards) + merge, 1),
              "wrong_totals": len(wrong), "load_average": os.getloadavg()[0]}
    print(f"merge: {merge} s; on {args.shards} machines: {report['cluster_seconds']} s (the slowest shard and the "
          f"merge); here, one after another: {report['one_machine_seconds']} s; wrong totals: {len(wrong)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
