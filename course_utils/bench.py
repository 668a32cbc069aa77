"""``make bench``: measure the course as its users feel it, beside each budget.

    python -m course_utils.bench [--only notebooks|widgets|models ...] [--out build/bench.json] [--strict]

Four parts, each discovered on disk (no hand-kept lists):

1. notebooks: every ``solutions/*.ipynb`` and ``exercises/*.ipynb`` run top to bottom in a
   fresh "python3" kernel (an in-memory copy, in a temporary folder; nothing is saved),
   timed from the kernel's start to the last cell's end, with the kernel's peak memory.
   Budget 60 s each; over 30 s is marked "over aim".
2. widgets: every registered demo (:func:`course_utils.widgets.demos`); each control is moved
   across its range (about 15 values; every option of a dropdown) and each redraw is
   timed. Budget: the demo's ``budget_ms`` on the median (100 ms closed form, 250 ms simulating).
3. models: every trained model registered with :func:`course_utils.training.course_model`,
   trained with a 15 s budget, then judged: 2-D models by the exact W2 distance to fresh
   target samples against the W2 between two target draws (ratio <= 1.25); digits models by
   a classifier of real digits (reconstruction accuracy, class coverage of samples).
   The samples behind each figure go to ``build/samples/<model>.npy``.
4. check: the total time of ``make check``, read from ``build/check-times.json``.

Everything goes to ``build/bench.json``; a short table goes to stdout. Budgets are printed,
never enforced: the exit status is 0 even with misses, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import training

__all__ = [
    "format_report",
    "bench_models",
    "bench_model",
    "bench_notebooks",
    "bench_widgets",
    "main",
    "read_check_times",
    "run",
    "sweep_values",
    "time_demo",
    "time_notebook",
]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("solutions", "exercises")
NOTEBOOK_BUDGET_S, NOTEBOOK_AIM_S = 60.0, 30.0
VALUES_PER_CONTROL = 15
MODEL_BUDGET_S = 15.0
W2_SAMPLES = training.N_SAMPLES
W2_RATIO_BUDGET = 1.25
#: W2 between two 2,000-point draws of a multimodal target varies by +-40% from draw to draw
#: (the share of points in each mode fluctuates); each side of the ratio averages this many.
W2_REPEATS = training.N_SAMPLE_SETS
DIGITS_MIN_COVERAGE = 1.0  # every digit among the samples (each at least 2%)
DIGITS_MIN_RECON_ACCURACY = 0.9
PARTS = ("notebooks", "widgets", "models")
OK, AIM, MISS, ERROR = "ok", "over aim", "MISS", "ERROR"

_RSS_MARK = "__course_bench_rss__"
# Prepended: the children's peak before any cell runs (the kernel's start-up already ran some).
_START_CELL = """\
import resource as _resource
_course_bench_children0 = _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss
"""
# Appended: the kernel's peak memory. On Linux ru_maxrss keeps the high-water mark of the process
# that launched the kernel (it survives the exec), so the kernel's own peak is VmHWM of /proc/self/status.
_RSS_CELL = f"""\
import json as _json, resource as _resource, sys as _sys
def _course_bench_vmhwm():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return None
_mpl = _sys.modules.get("matplotlib")
print("{_RSS_MARK}" + _json.dumps({{
    "vmhwm_kib": _course_bench_vmhwm(),
    "self_kib": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss,
    "children_kib": _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss,
    "children_start_kib": _course_bench_children0,
    "mpl_backend": _mpl.get_backend() if _mpl else None,
}}))
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- 1. notebooks -----------------------------------------------------------------------


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """Every notebook of the course, solutions first, sorted by name."""
    return [p for folder in NOTEBOOK_FOLDERS for p in sorted((root / folder).glob("*.ipynb"))]


def _parse_rss(cell) -> dict:
    for out in cell.get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        for line in text.splitlines():
            if line.startswith(_RSS_MARK):
                return json.loads(line[len(_RSS_MARK):])
    raise RuntimeError("the memory cell printed nothing readable")


def time_notebook(path: Path, timeout: int = 600, kernel_name: str = "python3") -> dict:
    """Run one notebook top to bottom in a fresh kernel; its time and the kernel's peak memory.

    The notebook is read into memory; one cell is prepended (the children's peak memory so
    far) and one appended that prints the kernel's peak resident set size. The copy runs in
    a temporary folder with ``allow_errors=False``; the file on disk is never written. The
    kernel gets the environment without ``MPLBACKEND``, so figures render inline as in Jupyter.

    The kernel's peak is ``VmHWM`` from ``/proc/self/status`` where there is one (Linux):
    ``getrusage(RUSAGE_SELF).ru_maxrss`` there also counts the process that launched the
    kernel (the mark survives the exec: about 250 MiB for a kernel launched by a process that
    has imported torch), so it is reported beside it, as ``ru_maxrss_mib``, and used only
    where ``VmHWM`` is missing.

    Returns:
        A dict: ``seconds`` (kernel start to the end of the last cell), ``kernel_start_seconds``,
        ``peak_rss_mib``, ``ru_maxrss_mib``, ``children_peak_rss_mib`` (the peak of the child
        processes the notebook's cells started; None when the cells started none that waited),
        ``mpl_backend`` and ``error`` (None, or the last lines of what failed).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells = [nbformat.v4.new_code_cell(_START_CELL), *nb.cells, nbformat.v4.new_code_cell(_RSS_CELL)]
    marks: dict[str, float] = {}

    def on_ready(**_):
        marks["ready"] = time.perf_counter()

    def on_cell_executed(cell_index, **_):
        if cell_index <= n_cells:  # the notebook's cells are 1..n_cells
            marks["last_cell"] = time.perf_counter()

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result: dict = {"seconds": None, "kernel_start_seconds": None, "peak_rss_mib": None, "ru_maxrss_mib": None,
                    "children_peak_rss_mib": None, "mpl_backend": None, "error": None}
    with tempfile.TemporaryDirectory(prefix="course-bench-") as cwd:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False,
                                resources={"metadata": {"path": cwd}},
                                on_notebook_start=on_ready, on_cell_executed=on_cell_executed)
        start = time.perf_counter()
        try:
            client.execute(env=env)
        except Exception as err:  # noqa: BLE001 - a failing notebook is a result, not a crash of the bench
            lines = [line for line in str(err).strip().splitlines() if line.strip()]
            result["error"] = f"{type(err).__name__}: " + " | ".join(lines[-3:])[:500]
            return result
    end = marks.get("last_cell", marks.get("ready", start))
    result["seconds"] = end - start
    result["kernel_start_seconds"] = marks.get("ready", start) - start
    rss = _parse_rss(nb.cells[-1])
    result["ru_maxrss_mib"] = rss["self_kib"] / 1024
    result["peak_rss_mib"] = (rss["vmhwm_kib"] or rss["self_kib"]) / 1024
    if rss["children_kib"] > rss["children_start_kib"]:
        result["children_peak_rss_mib"] = rss["children_kib"] / 1024
    result["mpl_backend"] = rss["mpl_backend"]
    return result


def _notebook_status(seconds: float | None, error: str | None) -> str:
    if error is not None or seconds is None:
        return ERROR
    return MISS if seconds > NOTEBOOK_BUDGET_S else AIM if seconds > NOTEBOOK_AIM_S else OK


def bench_notebooks(paths: list[Path] | None = None, root: Path = ROOT) -> list[dict]:
    """:func:`time_notebook` on every notebook (one at a time), with budgets and a status."""
    rows = []
    for path in notebook_paths(root) if paths is None else paths:
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        _log(f"bench: running {name} in a fresh kernel ...")
        row = {"notebook": name, **time_notebook(path)}
        row.update(budget_seconds=NOTEBOOK_BUDGET_S, aim_seconds=NOTEBOOK_AIM_S,
                   status=_notebook_status(row["seconds"], row["error"]))
        rows.append(row)
    return rows


# --- 2. widget demos ----------------------------------------------------------------------


def _option_values(control) -> list:
    options = control.options
    if isinstance(options, dict):
        return list(options.values())
    return [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]


def _evenly(values: list, n: int) -> list:
    if len(values) <= n:
        return list(values)
    return [values[int(i)] for i in np.unique(np.round(np.linspace(0, len(values) - 1, n)).astype(int))]


def _snap(v: float, low: float, step) -> float:
    if step:
        v = low + round((v - low) / step) * step
    return round(float(v), 12)


def sweep_values(control, n: int = VALUES_PER_CONTROL) -> list | None:
    """The values a sweep of ``control`` sets, from min to max; None for a control it cannot move.

    Sliders (and other bounded numbers): ``n`` evenly spaced values from min to max, on the
    control's step grid (a log slider: evenly spaced exponents); selections (dropdowns,
    toggle buttons, selection sliders): every option (``n`` evenly spaced ones if more);
    checkboxes: False, True.
    """
    if hasattr(control, "options"):
        return _evenly(_option_values(control), n)
    value = getattr(control, "value", None)
    if isinstance(value, bool):
        return [False, True]
    if not (hasattr(control, "min") and hasattr(control, "max")) or not isinstance(value, (int, float)):
        return None
    low, high, step = control.min, control.max, getattr(control, "step", None)
    if hasattr(control, "base"):  # FloatLogSlider: min/max/step are exponents
        exponents = [min(_snap(e, low, step), high) for e in np.linspace(low, high, n)]
        values = [float(control.base ** e) for e in exponents]
    elif isinstance(value, int):
        values = [int(min(_snap(v, low, step or 1), high)) for v in np.linspace(low, high, n)]
    else:
        values = [min(_snap(v, low, step), high) for v in np.linspace(low, high, n)]
    return list(dict.fromkeys(values))


def _ms_summary(times: list[float]) -> dict:
    return {"median_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
            "max_ms": max(times), "n": len(times)}


def time_demo(spec, n_values: int = VALUES_PER_CONTROL) -> dict:
    """Time every redraw of one registered demo while each control sweeps its range.

    Each control is swept on a freshly built demo (``lecture=False``; the other controls at
    their defaults). A redraw is the assignment ``control.value = v``, which redraws
    synchronously; values equal to the current one are skipped (they trigger nothing).

    Returns:
        A dict: ``build_ms``, ``median_ms``, ``p95_ms``, ``max_ms``, ``n`` over all redraws, and
        ``controls``: name -> {median_ms, p95_ms, max_ms, n} or {skipped: why} or {error: ...}.
    """
    start = time.perf_counter()
    demo = spec.build(lecture=False)
    build_ms = 1000 * (time.perf_counter() - start)
    names = list(demo.controls)
    controls: dict[str, dict] = {}
    every: list[float] = []
    for i, name in enumerate(names):
        if i:
            demo = spec.build(lecture=False)
        control = demo.controls[name]
        values = sweep_values(control, n_values)
        if values is None:
            controls[name] = {"skipped": f"cannot sweep a {type(control).__name__}"}
            continue
        times = []
        try:
            for v in values:
                if v == control.value:
                    continue
                t0 = time.perf_counter()
                control.value = v
                times.append(1000 * (time.perf_counter() - t0))
        except Exception as err:  # noqa: BLE001 - a demo that fails is reported, not fatal
            controls[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
            continue
        if times:
            controls[name] = _ms_summary(times)
            every += times
        else:
            controls[name] = {"skipped": "a single value"}
    summary = _ms_summary(every) if every else {"median_ms": None, "p95_ms": None, "max_ms": None, "n": 0}
    return {"build_ms": build_ms, **summary, "controls": controls}


def _widget_status(row: dict) -> str:
    if row.get("error") or any("error" in c for c in row["controls"].values()) or row["median_ms"] is None:
        return ERROR
    if row["median_ms"] > row["budget_ms"]:
        return MISS
    return OK


def bench_widgets(specs=None, n_values: int = VALUES_PER_CONTROL) -> list[dict]:
    """:func:`time_demo` on every registered demo (or ``specs``), with its budget and a status."""
    if specs is None:
        from .widgets import demos

        specs = demos()
    rows = []
    for spec in specs:
        _log(f"bench: sweeping the controls of {spec.section} {spec.name} ...")
        row = {"section": spec.section, "demo": spec.name, "simulates": spec.simulates,
               "budget_ms": spec.budget_ms, "error": None}
        try:
            row.update(time_demo(spec, n_values))
        except Exception as err:  # noqa: BLE001 - e.g. the demo cannot even be built
            row.update(error=f"{type(err).__name__}: {err}"[:300], median_ms=None, p95_ms=None, controls={})
        row["status"] = _widget_status(row)
        rows.append(row)
    return rows


# --- 3. trained models --------------------------------------------------------------------


def _w2_part(result, n_samples: int, repeats: int, seed: int) -> dict:
    from .metrics import w2_exact

    samples = result.samples.detach().double()
    sets = [samples[k * n_samples:(k + 1) * n_samples] for k in range(max(1, min(repeats, len(samples) // n_samples)))]
    torch.manual_seed(seed)
    model = [w2_exact(sets[k % len(sets)], result.target(n_samples)) for k in range(repeats)]
    baseline = [w2_exact(result.target(n_samples), result.target(n_samples)) for _ in range(repeats)]
    ratio = statistics.mean(model) / statistics.mean(baseline) if statistics.mean(baseline) > 0 else float("inf")
    return {"n_samples": len(sets[0]), "sample_sets": len(sets), "repeats": repeats, "w2_model": statistics.mean(model),
            "w2_target_target": statistics.mean(baseline), "w2_model_each": model,
            "w2_target_target_each": baseline, "w2_ratio": ratio, "w2_ratio_budget": W2_RATIO_BUDGET}


def _digits_part(result, n_samples: int) -> dict:
    from .metrics import digits_scores

    scores = digits_scores(result.reconstructions, result.labels, result.samples[:n_samples].detach())
    return {"n_samples": min(n_samples, len(result.samples)), **scores,
            "min_coverage": DIGITS_MIN_COVERAGE, "min_recon_accuracy": DIGITS_MIN_RECON_ACCURACY}


def _save_samples(name: str, result, samples_dir: Path, n_samples: int) -> list[str]:
    samples_dir.mkdir(parents=True, exist_ok=True)
    saved = [samples_dir / f"{name}.npy"]
    np.save(saved[0], result.samples[:n_samples].detach().cpu().numpy())
    if result.reconstructions is not None:
        saved.append(samples_dir / f"{name}_reconstructions.npy")
        np.save(saved[-1], result.reconstructions.detach().cpu().numpy())
    return [str(p) for p in saved]


def _model_status(row: dict) -> str:
    if row.get("error"):
        return ERROR
    misses = row["train_seconds"] > row["budget_seconds"]
    if row["kind"] == "2d":
        misses |= not row["w2_ratio"] <= W2_RATIO_BUDGET
    else:
        misses |= row["coverage"] is not None and row["coverage"] < DIGITS_MIN_COVERAGE
        misses |= row["accuracy"] is not None and row["accuracy"] < DIGITS_MIN_RECON_ACCURACY
    return MISS if misses else OK


def bench_model(spec, seconds: float | None = None, n_samples: int | None = None, repeats: int | None = None,
                samples_dir: Path | None = None, seed: int = 0) -> dict:
    """Train one registered model with a time budget and judge it by its kind.

    "2d": mean W2 between ``n_samples`` model samples and fresh target draws (``repeats`` times; a model that
    returns k * ``n_samples`` samples gives a separate set to each of the first k), beside the mean W2 between
    two independent target draws, and their ratio.
    "digits": :func:`course_utils.metrics.digits_scores`. The budget: ``train_seconds <= seconds``,
    and ratio <= 1.25 (2d) or all 10 digits covered and reconstruction accuracy >= 0.9 (digits).
    None: the module's constants (:data:`MODEL_BUDGET_S`, :data:`W2_SAMPLES`, :data:`W2_REPEATS`).
    """
    seconds = MODEL_BUDGET_S if seconds is None else seconds
    n_samples = W2_SAMPLES if n_samples is None else n_samples
    repeats = W2_REPEATS if repeats is None else repeats
    row: dict = {"model": spec.name, "section": spec.section, "kind": spec.kind, "budget_seconds": seconds,
                 "error": None}
    try:
        start = time.perf_counter()
        result = spec.train(seconds)
        row["wall_seconds"] = time.perf_counter() - start
        row["train_seconds"] = float(result.train_seconds)
        row.update(_w2_part(result, n_samples, repeats, seed) if spec.kind == "2d" else _digits_part(result, n_samples))
        if samples_dir is not None:
            row["saved"] = _save_samples(spec.name, result, samples_dir, n_samples)
    except Exception as err:  # noqa: BLE001 - a model that fails is reported, not fatal
        row["error"] = f"{type(err).__name__}: {err}"[:300]
    row["status"] = _model_status(row)
    return row


def bench_models(specs=None, samples_dir: Path | None = None, **kwargs) -> list[dict]:
    """:func:`bench_model` on every registered model (or ``specs``); [] when none is registered."""
    specs = training.course_models() if specs is None else specs
    rows = []
    for spec in specs:
        _log(f"bench: training {spec.section} {spec.name} ({spec.kind}) ...")
        rows.append(bench_model(spec, samples_dir=samples_dir, **kwargs))
    return rows


# --- 4. make check -------------------------------------------------------------------------


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
    return {"measured": True, "path": str(path), "total_seconds": total, "finished": finished,
            "stages": stages, "failed_stages": failed}


# --- the report ------------------------------------------------------------------------------


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
                figure = (f"recon accuracy {_fmt(r['accuracy'], '.2f')} / {DIGITS_MIN_RECON_ACCURACY} "
                          f"(real digits {r['classifier_accuracy']:.2f}), coverage {_fmt(r['coverage'], '.1f')}"
                          f" / {DIGITS_MIN_COVERAGE}")
            lines.append(f"  {name:<30} {train}  {figure}  {_mark(r['status'])}".rstrip())
    check = report["check"]
    if check["measured"]:
        failed = f", failed: {', '.join(check['failed_stages'])}" if check["failed_stages"] else ""
        lines += ["", f"make check: {check['total_seconds']:.1f} s in total, finished {check['finished']} "
                      f"({len(check['stages'])} stages{failed})"]
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
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform()},
        "budgets": {"notebook_seconds": NOTEBOOK_BUDGET_S, "notebook_aim_seconds": NOTEBOOK_AIM_S,
                    "widget_ms": "per demo: 100 (closed form) or 250 (simulates), on the median",
                    "model_train_seconds": MODEL_BUDGET_S, "w2_ratio": W2_RATIO_BUDGET,
                    "digits_min_coverage": DIGITS_MIN_COVERAGE,
                    "digits_min_recon_accuracy": DIGITS_MIN_RECON_ACCURACY},
    }
    if "notebooks" in parts:
        report["notebooks"] = bench_notebooks()
    if "widgets" in parts:
        report["widgets"] = bench_widgets()
    if "models" in parts:
        report["models"] = bench_models(samples_dir=out.parent / "samples")
    report["check"] = read_check_times(check_times) if check_times else read_check_times()
    report["misses"] = _misses(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_round(report), indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    os.environ["MPLBACKEND"] = "Agg"  # before anything imports matplotlib; notebook kernels get it removed
    parser = argparse.ArgumentParser(prog="python -m course_utils.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="measure only this part (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench.json", help="the JSON report's path")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its budget")
    args = parser.parse_args(argv)
    parts = tuple(p for p in PARTS if p in args.only) if args.only else PARTS
    report = run(parts, args.out)
    print(format_report(report))
    print(f"wrote {args.out}")
    if "notebooks" in parts:
        from . import syllabus

        if syllabus.update(bench=args.out):
            print("updated the README's syllabus table with these runtimes")
    return 1 if args.strict and report["misses"] else 0


if __name__ == "__main__":
    sys.exit(main())
