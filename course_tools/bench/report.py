"""``make bench``: the report. Runs the parts, reads ``make check``'s times, writes ``build/bench.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch

from .. import ROOT
from .models import (
    DIGITS_MIN_RECON_ACCURACY,
    DIGITS_QUALITY_BUDGET,
    DIGITS_QUALITY_SAMPLES,
    MODEL_BUDGET_S,
    W2_RATIO_BUDGET,
    bench_digits_controls,
    bench_models,
)
from .notebooks import NOTEBOOK_AIM_S, NOTEBOOK_BUDGET_S, bench_notebooks
from .status import ERROR, MISS, OK
from .widgets import bench_widgets

__all__ = ["PARTS", "format_report", "main", "read_check_times", "run"]

PARTS = ("notebooks", "widgets", "models")
#: The stages `make check` runs (scripts/check.sh); colab and browser run in `make check-all` and CI.
MAKE_CHECK_STAGES = ("lint", "unit", "integration", "notebook")


def read_check_times(path: Path = ROOT / "build" / "check-times.json") -> dict:
    """The last ``make check``'s stage times, as scripts/check.sh wrote them; or why there are none."""
    if not path.exists():
        return {"measured": False, "path": str(path), "note": "not measured: run make check"}
    try:
        data = json.loads(path.read_text())
        total, finished = float(data["total_seconds"]), str(data.get("finished", "unknown date"))
        stages = list(data.get("stages", []))
    except (ValueError, KeyError, TypeError) as err:
        return {"measured": False, "path": str(path), "note": f"unreadable ({type(err).__name__}: {err})"}
    failed = [s.get("name", "?") for s in stages if not s.get("ok", True)]
    by_stage: dict[str, float] = {}
    for s in stages:  # a stage's steps are named "stage" or "stage: what" (scripts/check.sh)
        group = str(s.get("name", "?")).split(":")[0]
        by_stage[group] = by_stage.get(group, 0.0) + float(s.get("seconds", 0.0))
    return {"measured": True, "path": str(path), "total_seconds": total, "finished": finished,
            "stages": stages, "failed_stages": failed, "by_stage": by_stage,
            "make_check_seconds": sum(v for k, v in by_stage.items() if k in MAKE_CHECK_STAGES)}


def _fmt(value, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _mark(status: str) -> str:
    return "" if status == OK else status


def format_report(report: dict) -> str:
    """The human-readable table: each figure beside its budget, misses marked MISS."""
    lines = [f"make bench ({report['machine']['cpus']} CPUs, load {report['machine']['load']}); "
             "budgets are printed, never enforced"]
    if "notebooks" in report:
        lines += ["", f"{'notebooks: fresh kernel, top to bottom':<40} {'time':>7}  {'budget (aim)':>13}  peak memory"]
        for r in report["notebooks"]:
            if r["error"]:
                lines.append(f"  {r['notebook']:<38} {ERROR}: {r['error'][:150]}")
                continue
            budget = f"{r['budget_seconds']:.0f} s ({r['aim_seconds']:.0f} s)"
            memory = _fmt(r["peak_rss_mib"], ".0f", " MiB")
            if r["children_peak_rss_mib"]:
                memory += f" (+children {r['children_peak_rss_mib']:.0f})"
            lines.append(f"  {r['notebook']:<38} {r['seconds']:5.1f} s  {budget:>13}  {memory:<11}  "
                         f"{_mark(r['status'])}".rstrip())
        if not report["notebooks"]:
            lines.append("  no notebooks found")
    if "widgets" in report:
        lines += ["", f"{'widget demos: one redraw per control change':<44} {'median':>8}  {'p95':>8}  {'budget':>8}"]
        for r in report["widgets"]:
            name = f"{r['section']} {r['demo']}"
            lines.append(f"  {name:<42} {_fmt(r['median_ms'], '5.1f', ' ms'):>8}  {_fmt(r['p95_ms'], '5.1f', ' ms'):>8}"
                         f"  {r['budget_ms']:5.0f} ms  {_mark(r['status'])}".rstrip())
            per = []
            for control, c in r["controls"].items():
                if "median_ms" in c:
                    per.append(f"{control} {c['median_ms']:.0f}")
                else:
                    per.append(f"{control} {'ERROR' if 'error' in c else 'skipped'}")
            if per:
                lines.append(f"      medians (ms): {', '.join(per)}")
            if r.get("error"):
                lines.append(f"      {ERROR}: {r['error'][:150]}")
        if not report["widgets"]:
            lines.append("  no demos registered")
    if "models" in report:
        lines += ["", f"trained models ({MODEL_BUDGET_S:.0f} s training budget each)"]
        if not report["models"]:
            lines.append("  no trained models yet")
        for r in report["models"]:
            name = f"{r['section']} {r['model']} ({r['kind']})"
            if r["error"]:
                lines.append(f"  {name:<30} {ERROR}: {r['error'][:150]}")
                continue
            train = f"train {r['train_seconds']:.1f} s / {r['budget_seconds']:.0f} s"
            if r["kind"] == "2d":
                figure = (f"W2 {r['w2_model']:.3f} vs target-target {r['w2_target_target']:.3f}: "
                          f"ratio {r['w2_ratio']:.2f} / {W2_RATIO_BUDGET}")
            else:
                figure = (f"quality {r['quality_distance']:.3f} vs real digits {r['quality_real_distance']:.3f}: "
                          f"ratio {r['quality_ratio']:.2f} / {DIGITS_QUALITY_BUDGET}")
                if r.get("accuracy") is not None:
                    figure += (f", recon accuracy {r['accuracy']:.2f} / {DIGITS_MIN_RECON_ACCURACY} "
                               f"(real digits {r['classifier_accuracy']:.2f})")
            lines.append(f"  {name:<30} {train}  {figure}  {_mark(r['status'])}".rstrip())
        controls = report.get("digits_controls") or []
        if controls:
            n = controls[0]["n_samples"]
            lines.append(f"  digits controls, {n} each (quality ratio; budget {DIGITS_QUALITY_BUDGET}): "
                         + ", ".join(f"{c['control']} {c['quality_ratio']:.2f}" for c in controls))
    check = report["check"]
    if check["measured"]:
        failed = f", failed: {', '.join(check['failed_stages'])}" if check["failed_stages"] else ""
        stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in check["by_stage"].items())
        lines += ["", f"make check: {check['make_check_seconds']:.0f} s (the latest time of each stage: {stages}; "
                      f"finished {check['finished']}{failed})"]
    else:
        lines += ["", f"make check: {check['note']}"]
    misses = report["misses"]
    lines += ["", f"{len(misses)} miss(es): {', '.join(misses)}" if misses else "every figure within its budget"]
    return "\n".join(lines)


def _misses(report: dict) -> list[str]:
    out = []
    for part, key in (("notebooks", "notebook"), ("widgets", "demo"), ("models", "model")):
        out += [f"{r[key]} ({r['status']})" for r in report.get(part, []) if r["status"] in (MISS, ERROR)]
    return out


def _round(obj, digits: int = 4):
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v, digits) for v in obj]
    return obj


def run(parts=PARTS, out: Path = ROOT / "build" / "bench.json", check_times: Path | None = None) -> dict:
    """Measure ``parts``, write the report to ``out`` (samples to ``out``'s folder / samples); return it."""
    report: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform()},
        "budgets": {"notebook_seconds": NOTEBOOK_BUDGET_S, "notebook_aim_seconds": NOTEBOOK_AIM_S,
                    "widget_ms": "per demo: 100 (closed form) or 250 (simulates), on the median",
                    "model_train_seconds": MODEL_BUDGET_S, "w2_ratio": W2_RATIO_BUDGET,
                    "digits_quality_ratio": DIGITS_QUALITY_BUDGET, "digits_quality_samples": DIGITS_QUALITY_SAMPLES,
                    "digits_min_recon_accuracy": DIGITS_MIN_RECON_ACCURACY},
    }
    if "notebooks" in parts:
        report["notebooks"] = bench_notebooks()
    if "widgets" in parts:
        report["widgets"] = bench_widgets()
    if "models" in parts:
        report["models"] = bench_models(samples_dir=out.parent / "samples")
        report["digits_controls"] = bench_digits_controls()
    report["check"] = read_check_times(check_times) if check_times else read_check_times()
    report["misses"] = _misses(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_round(report), indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    os.environ["MPLBACKEND"] = "Agg"  # before anything imports matplotlib; notebook kernels get it removed
    parser = argparse.ArgumentParser(prog="python -m course_tools.bench",
                                     description="make bench: measure the course beside its budgets")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="measure only this part (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench.json", help="the JSON report's path")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its budget")
    args = parser.parse_args(argv)
    parts = tuple(p for p in PARTS if p in args.only) if args.only else PARTS
    report = run(parts, args.out)
    print(format_report(report))
    print(f"wrote {args.out}" + ("; `make syllabus` puts its notebook runtimes into the README" if "notebooks" in parts
                                 else ""))
    return 1 if args.strict and report["misses"] else 0
