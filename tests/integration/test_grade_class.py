"""Grading a whole class: a generated class of correct, partial, cheating and broken notebooks.

The class is built by ``tests/submissions.py`` from the course's own exercise
notebook. Every student's points per exercise are known in advance, and the
gradebook must match them exactly, with the broken submissions costing only
the exercises they break.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import listening_port, require_sandbox
from submissions import ALL, POINTS, make_class, notebook, solution_cell

from course_tools.autograde import Limits, grade_submission
from course_tools.autograde.gradebook import grade_class, summary
from course_tools.autograde.sandbox import ROOT, sandbox_available
from course_tools.grade import DEFAULT_SALT
from course_utils.grading import exercises, get, run_check
from course_utils.grading.compare import set_hidden_salt

pytestmark = pytest.mark.integration

LIMITS = Limits(setup_s=30, check_s=5, memory_mb=2048)  # generous: CI machines can be busy


@pytest.fixture(scope="module", autouse=True)
def _needs_sandbox():
    """Every test here grades in the bubblewrap sandbox: skip without one (fail where CI is set)."""
    require_sandbox()


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def port():
    """A server on 127.0.0.1 that accepts connections while the class is graded (the sandbox must not reach it)."""
    with listening_port() as port:
        yield port


@pytest.fixture(scope="module")
def graded(tmp_path_factory, port):
    root = tmp_path_factory.mktemp("class")
    subs, out = root / "submissions", root / "grades"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the server answers from here, outside the sandbox
    expected = make_class(subs, [subs, out], port=listening_port)
    before, course_before = _tree(subs), _tree(ROOT / "course_utils")
    set_hidden_salt(DEFAULT_SALT)
    try:
        result = grade_class(subs, out, section="01", jobs=2, limits=LIMITS, salt=DEFAULT_SALT, progress=False)
    finally:
        set_hidden_salt(0)
    return SimpleNamespace(subs=subs, out=out, expected=expected, result=result, before=before,
                           course_before=course_before, rows=_csv(out / "gradebook.csv"))


def test_gradebook_has_the_expected_points_for_every_student(graded):
    assert set(graded.rows) == set(graded.expected)
    wrong = {}
    for student, points in graded.expected.items():
        row = graded.rows[student]
        got = {ex: int(row[ex]) for ex in ALL}
        if got != points or int(row["total"]) != sum(points.values()) or int(row["max"]) != sum(POINTS.values()):
            wrong[student] = (got, row["problems"])
    assert not wrong, wrong


def test_gradebook_columns_are_one_per_exercise(graded):
    with (graded.out / "gradebook.csv").open() as f:
        header = next(csv.reader(f))
    assert header == ["student", "name", *ALL, "total", "penalty", "final", "max", "late", "problems", "flags",
                      "sandbox"]
    assert {row["sandbox"] for row in graded.rows.values()} == {sandbox_available()[1]}


@pytest.mark.parametrize("student, says", [
    ("loop_in_function", "did not finish within the time limit (5 s for this exercise's check)"),
    ("loop_in_cell", "did not finish within the time limit (30 s to run the notebook's cells)"),
    ("exit_in_function", "exited with status 3"),
    ("junk_on_protocol", "protocol"),
    ("invalid_json", "invalid JSON"),
    ("empty", "the file is empty"),
    ("wrong_section", "section 02, not of section 01"),
])
def test_problems_column_says_why(graded, student, says):
    assert says in graded.rows[student]["problems"]


@pytest.mark.parametrize("student, exercise, says", [
    ("memory_bomb", "1.4", "MemoryError"),
    ("syntax_error", "1.2", "SyntaxError"),
    ("hide_errors", "1.1", "ValueError: hidden"),
    ("lying_objects", "1.1", "should return a tensor, a number, or a tuple or list of them, got AlwaysEqual"),
    ("partial", "1.3", "did you sum over the latent dimension?"),
    ("partial", "1.5", "subtract log K"),
    ("missing_cell", "1.5", "was the exercise cell deleted?"),
])
def test_feedback_teaches_what_went_wrong(graded, student, exercise, says):
    md = (graded.out / "feedback" / f"{student}.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith(f"- Exercise {exercise} "))
    assert says in line


def test_feedback_lines_are_the_notebooks_own_lines(graded):
    md = (graded.out / "feedback" / "full.md").read_text()
    for ex in exercises("01"):
        unit = "pt" if ex.points == 1 else "pts"
        assert f"- Exercise {ex.id} ({ex.points} {unit}): passed" in md
    assert f"Section 01: {sum(POINTS.values())}/{sum(POINTS.values())} points" in md
    assert (graded.out / "feedback" / "full.html").read_text().startswith("<!doctype html>")


def test_notes_mention_a_cell_that_raised_after_defining_its_function(graded):
    md = (graded.out / "feedback" / "exit_in_cell.md").read_text()
    assert "Note: your cell for exercise 1.2 raised SystemExit" in md


def test_nothing_on_disk_was_changed(graded):
    assert _tree(graded.subs) == graded.before, "a submission changed"
    assert _tree(ROOT / "course_utils") == graded.course_before, "the course package changed"


def test_summary_counts_what_ran_and_what_did_not(graded):
    text = summary(graded.result, graded.out)
    assert f"graded {len(graded.expected)} notebook(s) of {len(graded.expected)} student(s)" in text
    assert "could not be graded: 3" in text
    assert "invalid_json (invalid_json.ipynb): not a notebook: invalid JSON" in text
    assert "exercises stopped by a time or memory limit, or a crash" in text


def test_a_rerun_grades_only_what_changed(graded):
    first = (graded.out / "gradebook.csv").read_text()
    again = grade_class(graded.subs, graded.out, section="01", jobs=2, limits=LIMITS, salt=DEFAULT_SALT,
                        progress=False)
    assert again.reused == len(graded.expected)
    assert (graded.out / "gradebook.csv").read_text() == first
    (graded.subs / "stubs.ipynb").write_bytes(notebook(solved=("1.1",)))
    try:
        third = grade_class(graded.subs, graded.out, section="01", jobs=2, limits=LIMITS, salt=DEFAULT_SALT,
                            progress=False)
        assert third.reused == len(graded.expected) - 1
        assert _csv(graded.out / "gradebook.csv")["stubs"]["total"] == "1"
    finally:
        (graded.subs / "stubs.ipynb").write_bytes(notebook())


def test_a_cell_that_deletes_files_changes_nothing(graded):
    assert graded.rows["deletes_files"]["total"] == str(sum(POINTS.values()))
    assert _tree(graded.subs) == graded.before


def test_hidden_inputs_defeat_hard_coded_outputs(tmp_path):
    """Outputs copied from the notebook's own check pass there, and fail the grader's hidden inputs."""
    seen = []

    def spy(mu, log_var, eps):
        z = mu + torch.exp(0.5 * log_var) * eps
        value = (0.5 * (z**2 - eps**2) - 0.5 * log_var).sum(-1).mean(0)
        seen.append((eps.shape[0], value.tolist()))
        return value

    assert run_check(get("1.4"), spy).status == "passed"
    table = dict(seen)
    cheat = f"import torch\ndef kl_monte_carlo(mu, log_var, eps):\n    return torch.tensor({table!r}[eps.shape[0]])\n"
    namespace: dict = {}
    exec(cheat, namespace)
    assert run_check(get("1.4"), namespace["kl_monte_carlo"]).status == "passed", "the cheat fools the notebook"
    set_hidden_salt(DEFAULT_SALT)
    try:
        report = grade_submission(notebook({"1.4": cheat}, solved=("1.1",)), "cheat.ipynb", "01", LIMITS)
    finally:
        set_hidden_salt(0)
    got = {e["id"]: e for e in report.exercises}
    assert got["1.4"]["status"] == "failed" and got["1.1"]["status"] == "passed"


def test_the_command_line_grades_a_folder(tmp_path):
    subs = tmp_path / "class"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / "01_kl_elbo.ipynb").write_bytes(notebook(solved=("1.1", "1.3")))
    (subs / "ben.ipynb").write_bytes(notebook({"1.1": solution_cell("1.1").replace("p * ratio", "ratio")}))
    out = tmp_path / "grades"
    cmd = [sys.executable, "-m", "course_tools.grade", str(subs), "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "graded 2 notebook(s) of 2 student(s)" in proc.stdout
    rows = _csv(out / "gradebook.csv")
    assert rows["ann"]["total"] == str(POINTS["1.1"] + POINTS["1.3"])
    assert rows["ben"]["total"] == "0" and rows["ben"]["1.1"] == "0"
    assert "weighted by p_i" in (out / "feedback" / "ben.md").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert "2 reused from the cache" in again.stdout
    forced = subprocess.run(cmd + ["--regrade"], capture_output=True, text=True, cwd=ROOT)
    assert "0 reused from the cache" in forced.stdout
    bad = subprocess.run([sys.executable, "-m", "course_tools.grade", str(subs), "--out", str(subs / "grades")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "inside the submissions folder" in bad.stderr


def test_grading_a_notebook_list_reports_json(tmp_path):
    path = tmp_path / "01_kl_elbo.ipynb"
    path.write_bytes(notebook(solved=("1.2",)))
    proc = subprocess.run([sys.executable, "-m", "course_tools.grade", str(path), str(tmp_path / "missing.ipynb"),
                           "--json"], capture_output=True, text=True, cwd=ROOT)
    reports = {Path(r["notebook"]).name: r for r in json.loads(proc.stdout)}
    assert reports["01_kl_elbo.ipynb"]["total"] == POINTS["1.2"]
    assert reports["missing.ipynb"]["error"] == "file not found"


# --- shortcuts: the reference, a classmate, the network, many processes --------------------------------------


def test_each_shortcut_scores_zero_on_the_exercise_it_attacks(graded):
    """The attacks of tests/submissions.py get 0 there and full marks elsewhere (the points test checks all)."""
    for student, ex_id in (("uses_reference", "1.1"), ("reads_classmate", "1.3"), ("calls_home", "1.2"),
                           ("process_bomb", "1.5")):
        row = graded.rows[student]
        assert row[ex_id] == "0", (student, row)
        assert row["total"] == str(sum(POINTS.values()) - POINTS[ex_id]), (student, row)


def test_calling_the_reference_is_named_in_the_feedback(graded):
    text = (graded.out / "feedback" / "uses_reference.md").read_text()
    assert "reference answer `divergences.kl_discrete`: write your own" in text


def test_flags_name_copies_and_twins_and_cost_nothing(graded):
    rows = graded.rows
    full = str(sum(POINTS.values()))
    assert "reference" in rows["copies_reference"]["flags"] and rows["copies_reference"]["total"] == full
    assert "full" in rows["twin_of_full"]["flags"] and rows["twin_of_full"]["total"] == full
    own = [f for f in rows["rewritten"]["flags"].split("; ") if f.startswith(("1.1", "1.3", "1.4"))]
    assert own == [], own  # the answers it wrote itself are nothing to look at
    assert "profiler" not in rows["patch_grader"]["flags"]
    report = (graded.out / "similarity.md").read_text()
    assert "copies_reference" in report and "twin_of_full" in report


def test_per_student_hidden_inputs_make_a_classmates_outputs_fail(tmp_path):
    """Outputs recorded while grading alice's correct notebook fail for bob, and pass for alice again."""
    seen = []

    def spy(mu, log_var, eps):
        z = mu + torch.exp(0.5 * log_var) * eps
        value = (0.5 * (z**2 - eps**2) - 0.5 * log_var).sum(-1).mean(0)
        seen.append((eps.shape[0], value.tolist()))
        return value

    from course_utils.grading.compare import for_student

    set_hidden_salt("an instructor's secret")
    try:
        with for_student("alice"):
            assert run_check(get("1.4"), spy).status == "passed"
        table = dict(seen)
        cheat = (f"import torch\ndef kl_monte_carlo(mu, log_var, eps):\n"
                 f"    return torch.tensor({table!r}[eps.shape[0]])\n")
        alice = grade_submission(notebook({"1.4": cheat}), "a.ipynb", "01", LIMITS, student="alice")
        bob = grade_submission(notebook({"1.4": cheat}), "b.ipynb", "01", LIMITS, student="bob")
    finally:
        set_hidden_salt(0)
    assert {e["id"]: e["status"] for e in alice.exercises}["1.4"] == "passed"
    assert {e["id"]: e["status"] for e in bob.exercises}["1.4"] == "failed"


def test_the_secret_never_reaches_the_feedback_or_the_gradebook(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "grades"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / "01_kl_elbo.ipynb").write_bytes(notebook(solved=("1.1",), answers={"1.3": LEAKS_SECRET}))
    secret = "Secret-of-the-course-4417"
    proc = subprocess.run([sys.executable, "-m", "course_tools.grade", str(subs), "--out", str(out), "--no-progress",
                           "--secret", secret], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    rows = _csv(out / "gradebook.csv")
    assert rows["ann"]["1.1"] == str(POINTS["1.1"]) and rows["ann"]["1.3"] == "0"


# 1.3 that looks for the grading secret everywhere it might be, and raises it as its message
LEAKS_SECRET = '''
import os, sys
def kl_gaussian_std_normal(mu, log_var):
    found = [v for v in os.environ.values() if "Secret" in v] + [a for a in sys.argv if "Secret" in a]
    for pid in os.listdir("/proc"):
        try:
            found.append(open(f"/proc/{pid}/cmdline").read())
        except OSError:
            pass
    raise ValueError(" ".join(found))
'''
