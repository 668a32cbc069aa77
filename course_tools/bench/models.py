"""``make bench``, part 3: every registered trained model, trained with a time budget and judged.

2-D models by the exact W2 to fresh target draws beside the W2 between two target draws; digits
models by :func:`course_utils.metrics.digits_quality` (the Frechet distance, in a digits classifier's feature
space, between their samples and held-out real digits, beside the same distance for a real draw, and the ratio of
the two), reported beside the same figure for controls of known quality, and, for models that reconstruct, by a
classifier's accuracy on their reconstructions.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from course_utils import metrics
from course_utils.core import trained

from .status import ERROR, MISS, OK, log

__all__ = ["DIGITS_MIN_RECON_ACCURACY", "DIGITS_QUALITY_BUDGET", "DIGITS_QUALITY_SAMPLES", "MODEL_BUDGET_S",
           "W2_RATIO_BUDGET", "bench_digits_controls", "bench_model", "bench_models"]

MODEL_BUDGET_S = 15.0
W2_SAMPLES = trained.N_SAMPLES
W2_RATIO_BUDGET = 1.25
#: W2 between two 2,000-point draws of a multimodal target varies by +-40% from draw to draw
#: (the share of points in each mode fluctuates); each side of the ratio averages this many.
W2_REPEATS = trained.N_SAMPLE_SETS
DIGITS_QUALITY_BUDGET = metrics.DIGITS_QUALITY_BUDGET
#: Digits samples judged per model: the largest real draw without repeats (the 450 held-out digits), so the real
#: figure beside the model's is a draw of distinct real digits.
DIGITS_QUALITY_SAMPLES = 450
DIGITS_MIN_RECON_ACCURACY = 0.9


def _w2_part(result, n_samples: int, repeats: int, seed: int) -> dict:
    from course_utils.metrics import w2_exact

    samples = result.samples.detach().double()
    sets = [samples[k * n_samples:(k + 1) * n_samples] for k in range(max(1, min(repeats, len(samples) // n_samples)))]
    torch.manual_seed(seed)
    model = [w2_exact(sets[k % len(sets)], result.target(n_samples)) for k in range(repeats)]
    baseline = [w2_exact(result.target(n_samples), result.target(n_samples)) for _ in range(repeats)]
    ratio = statistics.mean(model) / statistics.mean(baseline) if statistics.mean(baseline) > 0 else float("inf")
    return {"n_samples": len(sets[0]), "sample_sets": len(sets), "repeats": repeats, "w2_model": statistics.mean(model),
            "w2_target_target": statistics.mean(baseline), "w2_model_each": model,
            "w2_target_target_each": baseline, "w2_ratio": ratio, "w2_ratio_budget": W2_RATIO_BUDGET}


def _quality_row(quality) -> dict:
    return {"quality_distance": quality.distance, "quality_real_distance": quality.real_distance,
            "quality_ratio": quality.ratio, "quality_budget": quality.budget}


def _digits_part(result, n_samples: int) -> dict:
    n = min(n_samples, DIGITS_QUALITY_SAMPLES, len(result.samples))
    row = {"n_samples": n, **_quality_row(metrics.digits_quality(result.samples[:n].detach())),
           "accuracy": None, "classifier_accuracy": None, "min_recon_accuracy": DIGITS_MIN_RECON_ACCURACY}
    if result.reconstructions is not None:
        scores = metrics.digits_scores(result.reconstructions, result.labels)
        row.update(accuracy=scores["accuracy"], classifier_accuracy=scores["classifier_accuracy"])
    return row


def bench_digits_controls(n_samples: int = DIGITS_QUALITY_SAMPLES, seed: int = 0) -> list[dict]:
    """:func:`course_utils.metrics.digits_quality` of each control of :func:`course_utils.metrics.digits_controls`
    (real held-out digits, blurred digits, the mean digit plus noise, noise, one class), to read the digits
    models' figures against; ``n_samples`` each."""
    return [{"control": name, "n_samples": n_samples, **_quality_row(metrics.digits_quality(x))}
            for name, x in metrics.digits_controls(n_samples, seed=seed).items()]


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
        misses |= not row["quality_ratio"] <= DIGITS_QUALITY_BUDGET
        misses |= row["accuracy"] is not None and row["accuracy"] < DIGITS_MIN_RECON_ACCURACY
    return MISS if misses else OK


def bench_model(spec, seconds: float | None = None, n_samples: int | None = None, repeats: int | None = None,
                samples_dir: Path | None = None, seed: int = 0) -> dict:
    """Train one registered model with a time budget and judge it by its kind.

    "2d": mean W2 between ``n_samples`` model samples and fresh target draws (``repeats`` times; a model that
    returns k * ``n_samples`` samples gives a separate set to each of the first k), beside the mean W2 between
    two independent target draws, and their ratio.
    "digits": :func:`course_utils.metrics.digits_quality` of the first ``min(n_samples, 450)`` samples and, for a
    model that reconstructs, :func:`course_utils.metrics.digits_scores`' accuracy on its reconstructions. The
    budget: ``train_seconds <= seconds``, and W2 ratio <= 1.25 (2d) or quality ratio <=
    :data:`DIGITS_QUALITY_BUDGET` and reconstruction accuracy >= 0.9 (digits).
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
    specs = trained.course_models() if specs is None else specs
    rows = []
    for spec in specs:
        log(f"bench: training {spec.section} {spec.name} ({spec.kind}) ...")
        rows.append(bench_model(spec, samples_dir=samples_dir, **kwargs))
    return rows
