"""``make bench``, part 2: every registered demo's controls swept across their ranges, each redraw timed."""

from __future__ import annotations

import statistics
import time

import numpy as np

from .status import ERROR, MISS, OK, log

__all__ = ["VALUES_PER_CONTROL", "bench_widgets", "sweep_values", "time_demo"]

VALUES_PER_CONTROL = 15


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
        from course_utils.ui.demos import demos

        specs = demos()
    rows = []
    for spec in specs:
        log(f"bench: sweeping the controls of {spec.section} {spec.name} ...")
        row = {"section": spec.section, "demo": spec.name, "simulates": spec.simulates,
               "budget_ms": spec.budget_ms, "error": None}
        try:
            row.update(time_demo(spec, n_values))
        except Exception as err:  # noqa: BLE001 - e.g. the demo cannot even be built
            row.update(error=f"{type(err).__name__}: {err}"[:300], median_ms=None, p95_ms=None, controls={})
        row["status"] = _widget_status(row)
        rows.append(row)
    return rows
