"""Tests of `make bench` (course_tools.bench): its parts on small inputs, its table, its report.

Timings are measured, never compared with a budget here: budgets are printed by the bench.
Only the `kernel`-marked test starts a Jupyter kernel.
"""

import json
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from course_tools import ROOT, bench
from course_tools.bench import models as models_part
from course_tools.bench import notebooks as notebooks_part
from course_utils.core.trained import TrainedModel, course_model
from course_utils.data.digits import digits_data, load_digits_split
from course_utils.ui.demos import demos


@pytest.fixture
def registry(empty_model_registry, monkeypatch):
    """An empty model registry with discovery off (the course's own models are never trained here)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")  # main() sets it; restored after the test
    return empty_model_registry


def _gaussian_target(n):
    return torch.randn(n, 2) * 0.5 + torch.tensor([1.0, -1.0])


def _perfect_2d(seconds_budget):
    torch.manual_seed(1)
    return TrainedModel(samples=_gaussian_target(2000), train_seconds=0.01, target=_gaussian_target)


# --- the table ---------------------------------------------------------------------------------


def _report():
    nb = {"error": None, "budget_seconds": 60.0, "aim_seconds": 30.0, "peak_rss_mib": 450.0,
          "children_peak_rss_mib": None}
    controls = {"a": {"median_ms": 20.0, "n": 3}, "b": {"skipped": "x"}}
    return {
        "machine": {"cpus": 2, "load": 0.5},
        "notebooks": [
            {**nb, "notebook": "solutions/fast.ipynb", "seconds": 12.0, "status": "ok"},
            {**nb, "notebook": "solutions/slowish.ipynb", "seconds": 45.0, "status": "over aim"},
            {**nb, "notebook": "exercises/slow.ipynb", "seconds": 75.0, "status": "MISS"},
            {**nb, "notebook": "exercises/broken.ipynb", "seconds": None, "error": "CellExecutionError: boom",
             "status": "ERROR"},
        ],
        "widgets": [
            {"section": "01", "demo": "quick_demo", "median_ms": 20.0, "p95_ms": 30.0, "budget_ms": 100.0,
             "controls": controls, "status": "ok"},
            {"section": "02", "demo": "sluggish_demo", "median_ms": 180.0, "p95_ms": 300.0, "budget_ms": 100.0,
             "controls": controls, "status": "MISS"},
        ],
        "models": [
            {"model": "good_flow", "section": "05", "kind": "2d", "error": None, "train_seconds": 9.0,
             "budget_seconds": 15.0, "w2_model": 0.2, "w2_target_target": 0.19, "w2_ratio": 1.05, "status": "ok"},
            {"model": "bad_gan", "section": "06", "kind": "2d", "error": None, "train_seconds": 9.0,
             "budget_seconds": 15.0, "w2_model": 0.5, "w2_target_target": 0.2, "w2_ratio": 2.5, "status": "MISS"},
            {"model": "vae_digits", "section": "07", "kind": "digits", "error": None, "train_seconds": 20.0,
             "budget_seconds": 15.0, "accuracy": 0.93, "classifier_accuracy": 0.97, "quality_distance": 1.2,
             "quality_real_distance": 0.5, "quality_ratio": 2.4, "quality_budget": 3.0, "status": "MISS"},
            {"model": "noisy_digits", "section": "07", "kind": "digits", "error": None, "train_seconds": 2.0,
             "budget_seconds": 15.0, "accuracy": None, "classifier_accuracy": None, "quality_distance": 5.0,
             "quality_real_distance": 0.5, "quality_ratio": 10.0, "quality_budget": 3.0, "status": "MISS"},
        ],
        "digits_controls": [
            {"control": "real", "n_samples": 450, "quality_distance": 0.5, "quality_real_distance": 0.5,
             "quality_ratio": 1.0, "quality_budget": 3.0},
            {"control": "binary noise", "n_samples": 450, "quality_distance": 5.0, "quality_real_distance": 0.5,
             "quality_ratio": 10.0, "quality_budget": 3.0},
        ],
        "check": {"measured": True, "total_seconds": 701.5, "finished": "2025-01-01T10:00:00", "stages": [{}] * 6,
                  "failed_stages": [], "by_stage": {"lint": 11.5, "unit": 290.0, "browser": 400.0},
                  "make_check_seconds": 301.5},
        "misses": ["slow (MISS)", "sluggish_demo (MISS)"],
    }


def _line(text, name):
    return next(line for line in text.splitlines() if name in line)


def test_the_table_marks_misses_and_only_misses():
    text = bench.format_report(_report())
    for name in ("slow.ipynb", "sluggish_demo", "bad_gan", "vae_digits", "noisy_digits"):
        assert _line(text, name).rstrip().endswith("MISS"), _line(text, name)
    for name in ("fast.ipynb", "quick_demo", "good_flow"):
        assert "MISS" not in _line(text, name)
    assert _line(text, "slowish.ipynb").endswith("over aim")
    assert "ERROR: CellExecutionError: boom" in _line(text, "broken.ipynb")
    assert "12.0 s" in _line(text, "fast.ipynb") and "60 s (30 s)" in _line(text, "fast.ipynb")
    assert "180.0 ms" in _line(text, "sluggish_demo") and "100 ms" in _line(text, "sluggish_demo")
    assert "ratio 2.50 / 1.25" in _line(text, "bad_gan")
    assert "quality 1.200 vs real digits 0.500: ratio 2.40 / 3.0" in _line(text, "vae_digits")
    assert "recon accuracy 0.93 / 0.9 (real digits 0.97)" in _line(text, "vae_digits")
    assert "ratio 10.00 / 3.0" in _line(text, "noisy_digits") and "recon" not in _line(text, "noisy_digits")
    assert "digits controls, 450 each (quality ratio; budget 3.0): real 1.00, binary noise 10.00" in text
    assert "medians (ms): a 20, b skipped" in text
    assert ("make check: 302 s (the latest time of each stage: lint 12 s, unit 290 s, browser 400 s; "
            "finished 2025-01-01T10:00:00)") in text
    assert "2 miss(es)" in text


def test_the_table_says_when_nothing_is_there_yet():
    report = {**_report(), "models": [], "check": bench.read_check_times(Path("/nonexistent/check-times.json")),
              "misses": []}
    text = bench.format_report(report)
    assert "no trained models yet" in text
    assert "make check: not measured: run make check" in text
    assert "every figure within its budget" in text


@pytest.mark.parametrize(("seconds", "error", "status"),
                         [(10.0, None, "ok"), (30.5, None, "over aim"), (60.5, None, "MISS"), (None, "x", "ERROR")])
def test_notebook_status_thresholds(seconds, error, status):
    assert notebooks_part._notebook_status(seconds, error) == status


# --- widgets -------------------------------------------------------------------------------------


def test_sweep_values_cover_each_controls_range_on_its_grid():
    values = bench.sweep_values(widgets.FloatSlider(value=1.0, min=0.0, max=7.0, step=0.1))
    assert len(values) == 15 and values[0] == 0.0 and values[-1] == 7.0
    assert all(abs(v * 10 - round(v * 10)) < 1e-9 for v in values)
    ints = bench.sweep_values(widgets.IntSlider(value=3, min=1, max=6))
    assert ints == [1, 2, 3, 4, 5, 6] and all(isinstance(v, int) for v in ints)
    logs = bench.sweep_values(widgets.FloatLogSlider(value=10, base=10, min=-2, max=2, step=0.5), n=5)
    assert logs == pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0])
    assert bench.sweep_values(widgets.Dropdown(options=[("prior", "p"), ("q", "q")], value="p")) == ["p", "q"]
    assert bench.sweep_values(widgets.ToggleButtons(options=["left", "right"])) == ["left", "right"]
    assert bench.sweep_values(widgets.SelectionSlider(options=list(range(100))), n=15)[::14] == [0, 99]
    assert bench.sweep_values(widgets.Checkbox(value=False)) == [False, True]
    assert bench.sweep_values(widgets.Text("x")) is None


def test_timing_one_demo_gives_sensible_numbers():
    spec = demos()[0]
    row = bench.time_demo(spec, n_values=3)
    names = list(spec.build(lecture=False).controls)
    assert list(row["controls"]) == names
    timed = [c for c in row["controls"].values() if "median_ms" in c]
    assert timed and row["n"] == sum(c["n"] for c in timed)
    assert all(1 <= c["n"] <= 3 for c in timed)
    assert 0 < row["median_ms"] <= row["p95_ms"] <= row["max_ms"] < 10_000
    assert row["build_ms"] > 0


def test_bench_widgets_reports_a_demo_that_fails(monkeypatch):
    spec = demos()[0]

    class Broken:
        section, name, simulates, budget_ms = spec.section, "broken_demo", False, 100.0

        def build(self, **kwargs):
            demo = spec.build(**kwargs)
            demo._update = lambda: 1 / 0
            return demo

    [row] = bench.bench_widgets([Broken()], n_values=2)
    assert row["status"] == "ERROR"
    assert all("ZeroDivisionError" in c["error"] for c in row["controls"].values())


# --- models --------------------------------------------------------------------------------------


def test_the_models_part_with_an_empty_registry_writes_an_empty_list(registry, tmp_path, capsys):
    assert bench.bench_models() == []
    out = tmp_path / "bench.json"
    assert bench.main(["--only", "models", "--out", str(out), "--strict"]) == 0
    report = json.loads(out.read_text())
    assert report["models"] == [] and "notebooks" not in report and "widgets" not in report
    assert "check" in report
    assert "no trained models yet" in capsys.readouterr().out


def test_a_model_drawing_from_its_target_is_within_budget(registry, tmp_path):
    course_model(name="perfect_2d", section="05", kind="2d")(_perfect_2d)
    [row] = bench.bench_models(samples_dir=tmp_path, n_samples=300)
    assert row["error"] is None and row["status"] == "ok"
    assert 0.75 < row["w2_ratio"] <= models_part.W2_RATIO_BUDGET
    assert row["w2_model"] > 0 and row["w2_target_target"] > 0 and row["n_samples"] == 300
    assert len(row["w2_model_each"]) == models_part.W2_REPEATS
    assert np.load(tmp_path / "perfect_2d.npy").shape == (300, 2)


def test_a_model_with_several_sample_sets_is_judged_on_each(registry):
    sets = [_gaussian_target(300), _gaussian_target(300) + 3.0, _gaussian_target(300)]
    course_model(name="three_sets_2d", section="05", kind="2d")(
        lambda seconds_budget: TrainedModel(torch.cat(sets), 0.01, target=_gaussian_target))
    [row] = bench.bench_models(n_samples=300, repeats=3)
    assert row["sample_sets"] == 3 and row["n_samples"] == 300
    near, far, near_again = row["w2_model_each"]
    assert far > 5 * max(near, near_again)  # only the second set was shifted
    [row] = bench.bench_models(n_samples=300, repeats=4)  # more repeats than sets: the sets are reused
    assert row["sample_sets"] == 3 and row["w2_model_each"][3] < row["w2_model_each"][1] / 5  # the first set again


def test_a_model_far_from_its_target_misses_and_strict_fails(registry, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models_part, "W2_SAMPLES", 300)  # what main() uses: fewer samples, one repeat, to stay fast
    monkeypatch.setattr(models_part, "W2_REPEATS", 1)
    course_model(name="shifted_2d", section="05", kind="2d")(
        lambda seconds_budget: TrainedModel(_gaussian_target(300) + 3.0, 0.01, target=_gaussian_target))
    [row] = bench.bench_models(n_samples=300, repeats=1)
    assert row["status"] == "MISS" and row["w2_ratio"] > 5
    out = str(tmp_path / "bench.json")
    assert bench.main(["--only", "models", "--out", out]) == 0
    assert bench.main(["--only", "models", "--out", out, "--strict"]) == 1
    assert _line(capsys.readouterr().out, "shifted_2d").endswith("MISS")


def test_a_model_over_its_time_budget_misses(registry):
    course_model(name="slow_2d", section="05", kind="2d")(
        lambda seconds_budget: TrainedModel(_gaussian_target(200), seconds_budget + 1, target=_gaussian_target))
    [row] = bench.bench_models(n_samples=200, repeats=1)
    assert row["status"] == "MISS" and row["train_seconds"] > row["budget_seconds"]


def test_a_digits_model_is_judged_by_the_quality_ratio_and_its_reconstructions(registry, tmp_path):
    x, y = digits_data()
    held_out = load_digits_split(torch.float64).x_test

    @course_model(name="copy_digits", section="06", kind="digits")
    def copy_digits(seconds_budget):
        pixels = torch.tensor(x, dtype=torch.float32)
        return TrainedModel(samples=held_out[torch.randperm(450)].float(), train_seconds=0.0,
                            reconstructions=pixels[500:700], labels=torch.tensor(y[500:700]))

    @course_model(name="noise_digits", section="06", kind="digits")
    def noise_digits(seconds_budget):  # the old coverage read such noise as 9 or 10 of the 10 classes
        return TrainedModel(samples=(torch.rand(2000, 64) < 0.5).float(), train_seconds=0.0)

    copy, noise = bench.bench_models(samples_dir=tmp_path)
    assert copy["status"] == "ok", copy
    assert copy["accuracy"] > 0.9 and copy["n_samples"] == models_part.DIGITS_QUALITY_SAMPLES == 450
    assert copy["quality_ratio"] == pytest.approx(1.0, abs=0.05) and copy["quality_budget"] == 3.0
    assert noise["status"] == "MISS" and noise["accuracy"] is None
    assert noise["quality_ratio"] > 2 * models_part.DIGITS_QUALITY_BUDGET
    assert np.load(tmp_path / "copy_digits.npy").shape == (450, 64)
    assert np.load(tmp_path / "copy_digits_reconstructions.npy").shape == (200, 64)


def test_the_digits_controls_land_in_order_around_the_budget():
    rows = {r["control"]: r for r in models_part.bench_digits_controls(200)}
    assert {r["n_samples"] for r in rows.values()} == {200}
    assert rows["real"]["quality_ratio"] <= models_part.DIGITS_QUALITY_BUDGET < rows["blurred"]["quality_ratio"]
    assert rows["blurred"]["quality_ratio"] < rows["mean digit + noise"]["quality_ratio"] \
        < rows["binary noise"]["quality_ratio"]


def test_a_model_that_fails_is_reported_not_fatal(registry):
    course_model(name="crashing", section="05", kind="2d")(lambda seconds_budget: 1 / 0)
    course_model(name="fine", section="05", kind="2d")(_perfect_2d)
    rows = bench.bench_models(n_samples=100, repeats=1)
    assert [(r["model"], r["status"]) for r in rows] == [("crashing", "ERROR"), ("fine", "ok")]
    assert "ZeroDivisionError" in rows[0]["error"]


# --- make check times -------------------------------------------------------------------------------


def test_check_times_are_read_with_their_date(tmp_path):
    path = tmp_path / "check-times.json"
    assert bench.read_check_times(path)["note"] == "not measured: run make check"
    path.write_text(json.dumps({"stages": [{"name": "1 lint", "seconds": 3.2, "ok": True},
                                           {"name": "2 tests", "seconds": 80.0, "ok": False}],
                                "total_seconds": 83.2, "finished": "2025-05-01T12:00:00"}))
    times = bench.read_check_times(path)
    assert times["measured"] and times["total_seconds"] == 83.2 and times["finished"] == "2025-05-01T12:00:00"
    assert times["failed_stages"] == ["2 tests"]
    path.write_text(json.dumps({"stages": [{"name": "lint: ruff", "seconds": 3.0, "ok": True},
                                           {"name": "lint: contracts", "seconds": 1.0, "ok": True},
                                           {"name": "unit", "seconds": 80.0, "ok": True},
                                           {"name": "browser", "seconds": 400.0, "ok": True}],
                                "total_seconds": 484.0, "finished": "2026-12-06T12:00:00"}))
    times = bench.read_check_times(path)
    assert times["by_stage"] == {"lint": 4.0, "unit": 80.0, "browser": 400.0}
    assert times["make_check_seconds"] == 84.0  # colab and browser are not make check's
    path.write_text("{not json")
    assert bench.read_check_times(path)["note"].startswith("unreadable")


# --- notebooks (starts a kernel) ---------------------------------------------------------------------


@pytest.mark.integration
def test_timing_a_notebook_measures_time_and_memory_and_writes_nothing():
    path = ROOT / "solutions" / "01_kl_elbo.ipynb"
    before = path.read_bytes()
    result = bench.time_notebook(path)
    assert result["error"] is None
    assert 0 < result["kernel_start_seconds"] < result["seconds"]
    assert 50 < result["peak_rss_mib"] <= result["ru_maxrss_mib"]  # the kernel's own peak, not its launcher's
    assert "inline" in result["mpl_backend"]  # figures render as in Jupyter, not with the bench's Agg
    assert path.read_bytes() == before
