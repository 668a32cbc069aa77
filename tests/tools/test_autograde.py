"""Fast unit tests of the class grader's pieces: no sandbox, no subprocess, no kernel.

Covers reading a submission and building its program (:mod:`course_tools.autograde.submission`),
the plain-data wire format (:mod:`.wire`), the in-process gradient helper and the hidden salt
(:mod:`course_utils.grading.compare`), and the gradebook and feedback (:mod:`.gradebook`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from course_tools import ROOT
from course_tools.autograde import gradebook, submission, wire
from course_tools.autograde.engine import Report
from course_tools.autograde.submission import SubmissionError, display_only, program, read_submission
from course_utils.grading import CheckFailed, Result, compare, exercises, get, run_check

EXERCISE_NB = ROOT / "exercises" / "01_kl_elbo.ipynb"
SECTION_01 = exercises("01")
IDS_01 = [e.id for e in SECTION_01]
LAST_01 = IDS_01[-1]  # the exercise the fixture class below fails
MAX_01 = sum(e.points for e in SECTION_01)
FUNCTIONS_01 = {e.id: e.function for e in SECTION_01}


def load_nb() -> dict:
    return json.loads(EXERCISE_NB.read_text(encoding="utf-8"))


def to_bytes(nb: dict) -> bytes:
    return json.dumps(nb).encode()


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def exercise_cell(nb: dict, ex_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("exercise") == ex_id)


# --------------------------------------------------------------------------------------
# read_submission


def test_exercise_notebook_has_a_tagged_cell_for_every_exercise():
    nb = load_nb()
    sub = read_submission(to_bytes(nb), "01_kl_elbo.ipynb", "01")
    assert sub.section == "01"
    assert list(sub.regions) == IDS_01
    assert sub.missing == {} and sub.notes == []
    for ex_id in IDS_01:
        assert sub.regions[ex_id] == source(exercise_cell(nb, ex_id))
        assert f"def {FUNCTIONS_01[ex_id]}(" in sub.regions[ex_id]


def test_untagged_cell_that_defines_the_function_is_found():
    nb = load_nb()
    for cell in nb["cells"]:
        cell["metadata"] = {}
    sub = read_submission(to_bytes(nb), "01_kl_elbo.ipynb", "01")
    assert list(sub.regions) == IDS_01 and sub.missing == {}
    assert sub.regions["1.1"].startswith("def kl_discrete(")
    # the `check("1.1", kl_discrete)` cell mentions the name but does not define it
    assert "check(" not in sub.regions["1.1"]


def test_two_cells_for_one_exercise_take_the_last_and_say_so():
    nb = load_nb()
    first = exercise_cell(nb, "1.3")
    second = dict(first, source="def kl_gaussian_std_normal(mu, log_var):\n    return 'second attempt'\n")
    nb["cells"].insert(nb["cells"].index(first) + 1, second)
    sub = read_submission(to_bytes(nb), "01_kl_elbo.ipynb", "01")
    assert "second attempt" in sub.regions["1.3"]
    assert sub.notes == ["exercise 1.3 has 2 cells; the last one was graded"]


def test_deleted_exercise_cell_is_missing_and_named():
    nb = load_nb()
    nb["cells"].remove(exercise_cell(nb, "1.5"))
    sub = read_submission(to_bytes(nb), "01_kl_elbo.ipynb", "01")
    assert "1.5" not in sub.regions and list(sub.missing) == ["1.5"]
    assert "importance_log_evidence()" in sub.missing["1.5"]
    assert "deleted" in sub.missing["1.5"]
    assert len(sub.regions) == len(IDS_01) - 1


NOT_A_NOTEBOOK = {
    "empty": (b"", ["empty"]),
    "whitespace": (b"  \n\t ", ["empty"]),
    "invalid JSON": (b'{"cells": [\n  {"cell_type": }', ["invalid JSON", "line 2", "column"]),
    "latin-1": ('{"cells": [], "x": "é"}'.encode("latin-1"), ["not UTF-8", "byte"]),
    "no cells": (b'{"metadata": {}}', ["no list of cells"]),
    "cells not a list": (b'{"cells": "abc"}', ["no list of cells"]),
    "a JSON list": (b"[1, 2]", ["no list of cells"]),
}


@pytest.mark.parametrize("case", NOT_A_NOTEBOOK)
def test_not_a_notebook_raises_a_clear_sentence(case):
    data, phrases = NOT_A_NOTEBOOK[case]
    with pytest.raises(SubmissionError) as info:
        read_submission(data, "01_kl_elbo.ipynb", "01")
    for phrase in phrases:
        assert phrase in str(info.value)


def test_utf8_bom_is_accepted():
    sub = read_submission(b"\xef\xbb\xbf" + to_bytes(load_nb()), "01_kl_elbo.ipynb", "01")
    assert list(sub.regions) == IDS_01


def test_notebook_of_another_section_is_refused():
    nb = load_nb()
    nb["metadata"]["course"]["section"] = "02"
    with pytest.raises(SubmissionError, match="section 02, not of section 01"):
        read_submission(to_bytes(nb), "01_kl_elbo.ipynb", "01")
    # without an expected section, the metadata is taken at its word: section 99 has no exercises
    nb["metadata"]["course"]["section"] = "99"
    with pytest.raises(SubmissionError, match="section 99, which has no graded exercises"):
        read_submission(to_bytes(nb), "01_kl_elbo.ipynb")


def test_notebook_of_no_recognisable_section_is_refused():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}], "metadata": {}}
    with pytest.raises(SubmissionError, match="cannot tell which section"):
        read_submission(to_bytes(nb), "homework.ipynb")


def test_section_is_guessed_from_the_file_name():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# my answers"}], "metadata": {}}
    sub = read_submission(to_bytes(nb), "01_my_answers.ipynb")
    assert sub.section == "01"
    assert list(sub.missing) == IDS_01 and sub.regions == {}
    # a prefix of a section the course lacks is no guess
    with pytest.raises(SubmissionError, match="cannot tell"):
        read_submission(to_bytes(nb), "77_my_answers.ipynb")


def test_section_is_guessed_from_the_file_name_of_a_full_path():
    nb = {"cells": [], "metadata": {}}
    assert read_submission(to_bytes(nb), "/submissions/alice/01_my_answers.ipynb").section == "01"


def test_section_is_guessed_from_the_functions_defined():
    nb = load_nb()
    del nb["metadata"]["course"]
    sub = read_submission(to_bytes(nb), "homework.ipynb")
    assert sub.section == "01" and list(sub.regions) == IDS_01


# --------------------------------------------------------------------------------------
# program and display_only


@pytest.fixture(scope="module")
def student_regions() -> dict[str, str]:
    return {ex_id: f"def {fn}(*args):\n    return 'student {ex_id}'\n" for ex_id, fn in FUNCTIONS_01.items()}


def test_program_has_the_import_cell_and_each_exercise_in_order(student_regions):
    steps = program("01", student_regions)
    # the first code cell after the generated Colab setup cell (which the grader never runs)
    import_cell = next(source(c) for c in load_nb()["cells"] if c["cell_type"] == "code" and c["id"] != "01-setup")
    assert steps[0] == submission.Step("provided", import_cell)
    assert "from course_utils.grading import check" in steps[0].code
    ex_steps = [s for s in steps if s.kind == "exercise"]
    assert [(s.exercise, s.function) for s in ex_steps] == list(FUNCTIONS_01.items())
    assert [s.code for s in ex_steps] == [student_regions[i] for i in IDS_01]
    assert steps[-1].kind == "exercise" and steps[-1].exercise == IDS_01[-1]  # stops after the last one


def test_program_leaves_out_display_cells_and_cells_the_exercises_do_not_need(student_regions):
    steps = program("01", student_regions)
    codes = [s.code.strip() for s in steps]
    for display in ('check("1.1", kl_discrete)', "kl_fit_demo()", "plot_kl_asymmetry()", 'score_table("01")'):
        assert display not in codes
    assert not any(c.startswith(("check(", "plot_", "kl_fit_demo")) for c in codes)
    assert not any(c.startswith("p = torch.distributions.Dirichlet") for c in codes)
    assert codes[0].startswith("import math")
    # a student's cell that reads a provided name pulls that cell in
    reads_x_obs = {**student_regions, "1.5": student_regions["1.5"] + "\nprint(x_obs)\n"}
    assert any(s.code.startswith("model, x_obs = importance") for s in program("01", reads_x_obs))


def test_needed_cells_follow_names_not_positions():
    from course_tools.autograde.submission import needed_cells

    provided = ["import torch", "C = 3", "model = train()\nprint(model)", "torch.set_default_dtype(torch.float64)",
                "print(model)", "def helper(x):\n    return x * C", "def f(p):\n    return p"]
    exercise = ["def f(x):\n    y = x + 1\n    return helper(torch.ones(1)) + y\n"]
    assert needed_cells(provided, exercise) == [True, True, False, True, False, True, False]
    assert needed_cells(provided, ["def g(model):\n    return model"]) == [False, False, False, False, False,
                                                                            False, False]


def test_program_skips_and_omits_exercises(student_regions):
    skipped = program("01", student_regions, frozenset({"1.3"}))
    assert [s.exercise for s in skipped if s.kind == "exercise"] == ["1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8"]
    partial = {k: v for k, v in student_regions.items() if k != "1.4"}
    assert "1.4" not in [s.exercise for s in program("01", partial)]
    assert [s.kind for s in program("01", {})].count("exercise") == 0


@pytest.mark.parametrize("code, names, expected", [
    ("f()", {"f"}, True),
    ('check("1.1", kl_discrete)', {"check"}, True),
    ("f()", {"g"}, False),
    ("x = f()", {"f"}, False),
    ("torch.manual_seed(0)", {"check", "kl_fit_demo"}, False),
    ("f()\nf()", {"f"}, False),
    ("f(", {"f"}, False),
    ("f", {"f"}, False),
])
def test_display_only(code, names, expected):
    assert display_only(code, names) is expected


# --------------------------------------------------------------------------------------
# wire


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class LyingTensor(torch.Tensor):
    """Says it is close to, and equal to, anything."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.allclose:
            return True
        if func in (torch.Tensor.__eq__, torch.eq):
            with torch._C.DisableTorchFunctionSubclass():
                return torch.ones(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})


def round_trip(value):
    return wire.unpack(wire.pack(wire.to_wire(value)))


def test_round_trip_of_tensors_keeps_values_dtype_and_shape():
    for t in (torch.arange(6, dtype=torch.float32).reshape(2, 3), torch.tensor(2.5, dtype=torch.float64),
              torch.tensor([True, False]), torch.zeros(0, 4, dtype=torch.int64)):
        back = round_trip(t)
        assert type(back) is torch.Tensor
        assert back.dtype == t.dtype and back.shape == t.shape and torch.equal(back, t)


def test_round_trip_of_plain_python_values():
    value = {"a": (1, 2.5, None, "s", True), "b": [torch.ones(2), [3]], "c": {}}
    back = round_trip(value)
    assert type(back["a"]) is tuple and type(back["b"]) is list
    assert back["a"] == (1, 2.5, None, "s", True)
    assert torch.equal(back["b"][0], torch.ones(2)) and back["b"][1] == [3] and back["c"] == {}


@pytest.mark.parametrize("array", [np.arange(4, dtype=np.float64), np.array([[1, 2]], dtype=np.int32),
                                   np.array([True, False]), np.float64(1.5), np.arange(5)[::-1]])
def test_numeric_numpy_values_become_tensors(array):
    back = round_trip(array)
    assert type(back) is torch.Tensor
    assert back.shape == np.shape(array)
    assert np.array_equal(back.numpy(), np.asarray(array))


def test_tensor_that_requires_grad_is_detached():
    x = torch.ones(3, requires_grad=True)
    plain = wire.to_wire(x * 2)
    assert not plain.requires_grad and plain.grad_fn is None
    assert torch.equal(round_trip(x * 2), torch.full((3,), 2.0))


def test_lying_tensor_subclass_is_stripped_to_its_real_values():
    real = torch.tensor([1.0, 2.0, 3.0])
    liar = real.clone().as_subclass(LyingTensor)
    assert torch.allclose(liar, torch.full((3,), 99.0)) is True  # the lie works on the subclass ...
    assert bool((liar == 99.0).all())
    plain = wire.to_wire(liar)
    assert type(plain) is torch.Tensor  # ... and not on its copy
    assert not torch.allclose(plain, torch.full((3,), 99.0)) and not bool((plain == 99.0).any())
    assert torch.equal(plain, real) and torch.equal(round_trip(liar), real)


def nested(depth: int):
    value = 1.0
    for _ in range(depth):
        value = [value]
    return value


class MyFloat(float):
    pass


@pytest.mark.parametrize("value, phrase", [
    (AlwaysEqual(), "AlwaysEqual"),
    ((torch.ones(1), AlwaysEqual()), "AlwaysEqual"),
    (MyFloat(1.0), "MyFloat"),
    ({1: torch.ones(1)}, r"\bdict\b"),
    (np.array([1, "a"], dtype=object), "dtype object"),
    (np.array([1 + 2j]), "dtype complex128"),
    (nested(9), "more than 8 levels"),
    (torch.empty(2, device="meta"), "on meta"),
])
def test_not_plain_values_are_refused(value, phrase):
    with pytest.raises(wire.NotPlain, match=phrase):
        wire.to_wire(value)


def test_sparse_tensor_is_refused_as_not_plain():
    with pytest.raises(wire.NotPlain, match="dense"):
        wire.to_wire(torch.eye(2).to_sparse())


def test_sparse_answer_fails_with_a_sentence_not_as_not_attempted():
    from course_utils.grading import get, run_check

    result = run_check(get("1.1"), lambda p, q: (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1).to_sparse())
    assert result.status == "failed" and "dense" in result.message


def test_big_endian_numpy_answer_is_copied():
    value = np.array([1.5, 2.5], dtype=">f8")
    assert torch.equal(round_trip(value), torch.tensor([1.5, 2.5], dtype=torch.float64))


def test_student_names_map_to_distinct_safe_file_names():
    from course_tools.autograde.gradebook import _safe

    names = ["a b", "a_b", "../etc", ".hidden", "alice"]
    safe = [_safe(n) for n in names]
    assert len(set(safe)) == len(names) and safe[-1] == "alice"
    assert all("/" not in s and not s.startswith(".") for s in safe)


def test_nesting_of_eight_levels_is_accepted():
    assert round_trip(nested(8)) == nested(8)


class RunsAShellCommand:
    """Unpickling this would run a shell command: the grader must refuse to build it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Custom:
    pass


def test_unpack_refuses_pickles_of_arbitrary_classes(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(RunsAShellCommand(marker), protocol=2)  # only builds the bytes, runs nothing
    assert b"system" in evil
    with pytest.raises(wire.WireError, match="unreadable answer"):
        wire.unpack(evil)
    assert not marker.exists()
    buf = io.BytesIO()
    torch.save(Custom(), buf)
    with pytest.raises(wire.WireError):
        wire.unpack(buf.getvalue())


@pytest.mark.parametrize("garbage", [b"", b"not a frame", b"\x00" * 64])
def test_unpack_refuses_garbage(garbage):
    with pytest.raises(wire.WireError, match="unreadable answer"):
        wire.unpack(garbage)


def test_frame_length_limit():
    assert wire.frame_length(wire.header(12)) == 12
    assert wire.frame_length(wire.header(wire.MAX_FRAME)) == wire.MAX_FRAME
    with pytest.raises(wire.WireError, match="over the"):
        wire.frame_length(wire.header(wire.MAX_FRAME + 1))


# --------------------------------------------------------------------------------------
# compare: call_with_grad, to_plain_tensor, generator and the hidden salt


def test_call_with_grad_matches_autograd():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)

    def fn(a, b):
        return (a**2 * b).sum()

    value, grads = compare.call_with_grad(fn, x, y, wrt=(0, 1))
    xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    expected = torch.autograd.grad(fn(xr, yr), (xr, yr))
    assert torch.allclose(value.detach(), fn(x, y))
    assert len(grads) == 2 and all(torch.allclose(a, b) for a, b in zip(grads, expected, strict=True))
    assert not x.requires_grad and not y.requires_grad  # the caller's tensors are untouched


@pytest.mark.parametrize("fn", [
    lambda a: (a**2).sum().detach(),
    lambda a: a**2,
    lambda a: 1.5,
])
def test_call_with_grad_without_a_scalar_gradient(fn):
    value, grads = compare.call_with_grad(fn, torch.ones(3), wrt=(0,))
    assert grads is None
    assert value is not None


def test_call_with_grad_marks_an_unused_argument():
    _, grads = compare.call_with_grad(lambda a, b: (3 * a).sum(), torch.ones(2), torch.ones(2), wrt=(0, 1))
    assert torch.equal(grads[0], torch.full((2,), 3.0))
    assert grads[1] is None


def test_to_plain_tensor_refuses_an_always_equal_object():
    with pytest.raises(CheckFailed, match="should return a tensor, got AlwaysEqual"):
        compare.to_plain_tensor(AlwaysEqual())


def test_to_plain_tensor_strips_a_lying_subclass():
    liar = torch.tensor([1.0, 2.0]).as_subclass(LyingTensor)
    plain = compare.to_plain_tensor(liar)
    assert type(plain) is torch.Tensor and plain.dtype == torch.float64
    assert torch.equal(plain, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.equal(compare.to_plain_tensor([1, 2]), torch.tensor([1.0, 2.0], dtype=torch.float64))


@pytest.fixture
def hidden_salt():
    """Sets the hidden salt for one test; always back to 0 afterwards."""
    try:
        yield compare.set_hidden_salt
    finally:
        compare.set_hidden_salt(0)


def draws(g: torch.Generator) -> torch.Tensor:
    return torch.randn(5, generator=g)


def test_generator_with_salt_zero_is_the_plain_seed(hidden_salt):
    hidden_salt(0)
    assert torch.equal(draws(compare.generator(11)), draws(torch.Generator().manual_seed(11)))


def test_generator_with_a_salt_draws_other_inputs(hidden_salt):
    hidden_salt(7919)
    assert not torch.equal(draws(compare.generator(11)), draws(torch.Generator().manual_seed(11)))
    assert torch.equal(draws(compare.generator(11)), draws(torch.Generator().manual_seed(compare.hidden_seed(11))))
    with compare.for_student("alice"):
        alice = draws(compare.generator(11))
    with compare.for_student("bob"):
        assert not torch.equal(alice, draws(compare.generator(11)))
    hidden_salt(7920)
    with compare.for_student("alice"):
        assert not torch.equal(alice, draws(compare.generator(11)))


# The course's solutions under hundreds of secrets: tests/grading/test_every_exercise.py.


@pytest.mark.parametrize("salt", [0, 7919, "a private secret"])
def test_a_wrong_answer_still_fails_under_a_salt(hidden_salt, salt):
    hidden_salt(salt)
    result = run_check(get("1.1"), lambda p, q: (torch.xlogy(q, q) - torch.xlogy(q, p)).sum(-1))
    assert result.status == "failed" and "D_KL(q || p)" in result.message


# --------------------------------------------------------------------------------------
# gradebook


def results(passed=(), message="wrong value", messages=None) -> list[Result]:
    """One Result per exercise of section 01: full points for ``passed``, else 0 with a message."""
    messages = messages or {}
    return [Result(e.id, e.title, e.points, e.points, "passed") if e.id in passed
            else Result(e.id, e.title, 0, e.points, "failed", messages.get(e.id, message))
            for e in SECTION_01]


def report(notebook, rs, section="01", error=None) -> Report:
    return Report(notebook, section, [r.to_dict() for r in rs], error=error)


UNREADABLE = "not a notebook: invalid JSON (Expecting value at line 1, column 1)"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def class_result() -> gradebook.ClassResult:
    alice_best = results(passed=IDS_01[:-1], messages={LAST_01: f"on a 2-D latent: {SCRIPT}"})
    return gradebook.ClassResult(
        reports={
            "alice": [report("alice/01_first.ipynb", results(passed=["1.1"])),
                      report("alice/01_kl_elbo.ipynb", alice_best)],
            "bob": [report("bob.ipynb", [], section=None, error=UNREADABLE)],
            "carol": [],
            "dave": [report("dave.ipynb", results(passed=IDS_01[:-1], messages={
                LAST_01: "checking your function stopped the grader: it did not finish within the time limit"}))],
        },
        sections=["01"],
    )


def test_rows_have_one_column_per_exercise_and_totals(class_result):
    assert class_result.columns() == ["student", "name", *IDS_01, "total", "penalty", "final", "max", "late",
                                      "problems", "flags", "sandbox"]
    rows = {r["student"]: r for r in class_result.rows()}
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    assert all(r["max"] == MAX_01 for r in rows.values())
    alice = rows["alice"]  # the better of her two notebooks counts
    want = [e.points for e in SECTION_01[:-1]] + [0]
    assert [alice[i] for i in IDS_01] == want and alice["total"] == sum(want)
    assert alice["problems"] == ""
    assert rows["bob"]["total"] == 0 and UNREADABLE in rows["bob"]["problems"]
    assert rows["bob"]["problems"].startswith("bob.ipynb: ")
    assert [rows["carol"][i] for i in IDS_01] == [0] * len(IDS_01) and rows["carol"]["problems"] == "no notebook found"
    assert rows["dave"]["problems"].startswith(f"{LAST_01}: checking your function stopped the grader")


def test_best_prefers_the_higher_total(class_result):
    assert class_result.best("alice", "01").notebook == "alice/01_kl_elbo.ipynb"
    assert class_result.best("carol", "01") is None


def test_gradebook_csv(class_result):
    rows = list(csv.DictReader(io.StringIO(gradebook.gradebook_csv(class_result))))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave"]
    assert list(rows[0]) == class_result.columns()
    assert rows[0]["total"] == str(MAX_01 - SECTION_01[-1].points) and rows[0][LAST_01] == "0" and rows[0]["1.1"] == "1"


def test_feedback_lines_are_the_notebook_lines(class_result):
    md = gradebook.feedback_markdown("alice", class_result)
    assert md.startswith("# Feedback for alice")
    assert f"## Section 01: {MAX_01 - SECTION_01[-1].points}/{MAX_01} points" in md
    assert "Notebook graded: `01_kl_elbo.ipynb`" in md
    lines = [line[2:] for line in md.splitlines() if line.startswith("- ")]
    best = results(passed=IDS_01[:-1], messages={LAST_01: f"on a 2-D latent: {SCRIPT}"})
    assert lines == [r.line() for r in best]


def test_feedback_of_an_unreadable_notebook_and_of_no_notebook(class_result):
    bob = gradebook.feedback_markdown("bob", class_result)
    assert f"`bob.ipynb` could not be graded: {UNREADABLE}" in bob
    assert "No notebook of this section was found" in bob
    carol = gradebook.feedback_markdown("carol", class_result)
    assert "No notebook was found in your submission." in carol


def test_feedback_html_escapes_the_message(class_result):
    page = gradebook.feedback_html(gradebook.feedback_markdown("alice", class_result))
    assert SCRIPT not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>Feedback for alice</h1>" in page and "<title>Feedback for alice</title>" in page
    assert "<code>01_kl_elbo.ipynb</code>" in page
    assert page.count("<li>") == len(IDS_01)


def test_grade_class_refuses_an_output_folder_inside_the_submissions(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for out in (subs, subs / "out", subs / "a" / "b"):
        with pytest.raises(ValueError, match="inside the submissions folder"):
            gradebook.grade_class(subs, out, progress=False)
    assert sorted(p.name for p in subs.iterdir()) == []


def test_grade_class_of_a_student_without_notebooks(tmp_path, monkeypatch):
    monkeypatch.setattr(gradebook, "sandbox_available", lambda: (True, "bubblewrap 0.8.0"))  # no probe subprocess
    (tmp_path / "subs" / "carol").mkdir(parents=True)
    result = gradebook.grade_class(tmp_path / "subs", tmp_path / "out", section="01", progress=False)
    assert [r["problems"] for r in result.rows()] == ["no notebook found"]
    csv_text = (tmp_path / "out" / "gradebook.csv").read_text()
    assert csv_text.splitlines()[0] == ",".join(result.columns())
    assert "No notebook was found" in (tmp_path / "out" / "feedback" / "carol.md").read_text()
    with pytest.raises(ValueError, match="no exercises are registered for section '77'"):
        gradebook.grade_class(tmp_path / "subs", tmp_path / "out2", section="77", progress=False)
