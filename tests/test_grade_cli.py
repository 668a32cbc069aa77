"""The grade command: points come from its own checks; bad notebooks get a clear report."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils import grade
from course_utils.grading import exercises

CORRECT_KL = '''
import torch
def kl_discrete(p, q):
    return torch.special.xlogy(p, p).sum(-1) - torch.special.xlogy(p, q).sum(-1)
'''

WRONG_GAUSSIAN_KL = '''
def kl_gaussian_std_normal(mu, log_var):
    return 0.5 * (log_var.exp() + mu**2 - 1.0 - log_var)  # forgot the sum
'''

pytestmark = pytest.mark.kernel

FAKE_OUTPUT = '''
print("Exercise 1.1 (1 pt): passed")
print("Section 01 score: 10/10 points")
'''


def _notebook(path, *cells, section="01"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["course"] = {"section": section}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def _by_id(report):
    return {e["id"]: e for e in report.exercises}


def test_partial_notebook_gets_points_for_what_it_got_right(tmp_path):
    path = _notebook(tmp_path / "01_student.ipynb", CORRECT_KL, WRONG_GAUSSIAN_KL, "raise ValueError('oops')")
    before = path.read_bytes()
    report = grade.grade_notebook(path, timeout=60)
    ex = _by_id(report)
    assert report.error is None
    assert ex["1.1"]["status"] == "passed" and ex["1.1"]["points"] == ex["1.1"]["max_points"]
    assert ex["1.3"]["status"] == "failed" and "sum over the latent dimension" in ex["1.3"]["message"]
    assert ex["1.4"]["status"] == "missing"
    assert report.total == ex["1.1"]["max_points"]
    assert report.max_total == sum(e.points for e in exercises("01"))
    assert path.read_bytes() == before, "grading must never modify a submission"


def test_printed_claims_earn_nothing(tmp_path):
    report = grade.grade_notebook(_notebook(tmp_path / "01_fake.ipynb", FAKE_OUTPUT), timeout=60)
    assert report.total == 0


def test_bad_files_get_a_report_not_a_crash(tmp_path, capsys):
    bad_json = tmp_path / "01_broken.ipynb"
    bad_json.write_text("{ this is not json")
    empty = tmp_path / "01_empty.ipynb"
    empty.write_text("")
    missing = tmp_path / "01_missing.ipynb"
    unknown = _notebook(tmp_path / "notes.ipynb", "x = 1", section="zz")
    good = _notebook(tmp_path / "01_good.ipynb", CORRECT_KL)
    code = grade.main([str(p) for p in (bad_json, empty, missing, unknown, good)] + ["--json"])
    assert code == 0
    reports = {r["notebook"]: r for r in json.loads(capsys.readouterr().out)}
    assert "not a readable notebook" in reports[str(bad_json)]["error"]
    assert "not a readable notebook" in reports[str(empty)]["error"]
    assert reports[str(missing)]["error"] == "file not found"
    assert "which section" in reports[str(unknown)]["error"]
    for path in (bad_json, empty, missing):
        assert [e["points"] for e in reports[str(path)]["exercises"]] == [0] * len(exercises("01"))
    assert reports[str(good)]["error"] is None and reports[str(good)]["total"] > 0
    for r in reports.values():
        assert set(r) >= {"notebook", "exercises", "total", "max_total"}


def test_expect_flags_set_the_exit_status(tmp_path):
    good = _notebook(tmp_path / "01_good.ipynb", CORRECT_KL)
    assert grade.main([str(good), "--expect", "zero"]) == 1
    assert grade.main([str(good), "--expect", "full"]) == 1
    empty = _notebook(tmp_path / "01_empty.ipynb", "x = 1")
    assert grade.main([str(empty), "--expect", "zero"]) == 0


def test_a_cell_past_the_time_limit_stops_that_notebook_only(tmp_path):
    slow = _notebook(tmp_path / "01_slow.ipynb", CORRECT_KL, "import time\ntime.sleep(30)")
    report = grade.grade_notebook(slow, timeout=3)
    assert report.error and "did not finish" in report.error
    assert report.total == 0
