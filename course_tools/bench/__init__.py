"""``make bench``: measure the course as its users feel it, beside each budget.

    python -m course_tools.bench [--only notebooks|widgets|models ...] [--out build/bench.json] [--strict]

Four parts, each discovered on disk (no hand-kept lists):

1. notebooks: every ``solutions/*.ipynb`` and ``exercises/*.ipynb`` run top to bottom in a
   fresh "python3" kernel (an in-memory copy, in a temporary folder; nothing is saved),
   timed from the kernel's start to the last cell's end, with the kernel's peak memory.
   Budget 60 s each; over 30 s is marked "over aim".
2. widgets: every registered demo (:func:`course_utils.ui.demos.demos`); each control is moved
   across its range (about 15 values; every option of a dropdown) and each redraw is
   timed. Budget: the demo's ``budget_ms`` on the median (100 ms closed form, 250 ms simulating).
3. models: every trained model registered with :func:`course_utils.core.trained.course_model`,
   trained with a 15 s budget, then judged: 2-D models by the exact W2 distance to fresh
   target samples against the W2 between two target draws (ratio <= 1.25); digits models by
   :func:`course_utils.metrics.digits_quality` on 450 samples (the Frechet distance, in a digits
   classifier's feature space, to held-out real digits against a real draw's: ratio <= 3.0), printed
   beside the same ratio for controls (real, blurred, mean digit + noise, noise, one class), and for
   models that reconstruct a classifier's accuracy on their reconstructions (>= 0.9).
   The samples behind each figure go to ``build/samples/<model>.npy``.
4. check: the total time of ``make check``, read from ``build/check-times.json``.

Everything goes to ``build/bench.json`` (``make syllabus`` copies the notebook runtimes into the
README); a short table goes to stdout. Budgets are printed,
never enforced: the exit status is 0 even with misses, unless ``--strict``.
"""

from .models import bench_model, bench_models
from .notebooks import bench_notebooks, notebook_paths, time_notebook
from .report import PARTS, format_report, main, read_check_times, run
from .widgets import bench_widgets, sweep_values, time_demo

__all__ = [
    "PARTS",
    "bench_model",
    "bench_models",
    "bench_notebooks",
    "bench_widgets",
    "format_report",
    "main",
    "notebook_paths",
    "read_check_times",
    "run",
    "sweep_values",
    "time_demo",
    "time_notebook",
]
