"""``make bench``, part 1: every notebook top to bottom in a fresh kernel, its time and peak memory."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from .. import ROOT
from .status import AIM, ERROR, MISS, OK, log

__all__ = ["NOTEBOOK_AIM_S", "NOTEBOOK_BUDGET_S", "bench_notebooks", "notebook_paths", "time_notebook"]

NOTEBOOK_FOLDERS = ("solutions", "exercises")
NOTEBOOK_BUDGET_S, NOTEBOOK_AIM_S = 60.0, 30.0
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
        log(f"bench: running {name} in a fresh kernel ...")
        row = {"notebook": name, **time_notebook(path)}
        row.update(budget_seconds=NOTEBOOK_BUDGET_S, aim_seconds=NOTEBOOK_AIM_S,
                   status=_notebook_status(row["seconds"], row["error"]))
        rows.append(row)
    return rows
