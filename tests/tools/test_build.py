"""The notebook pipeline: generation, stubs, no leaks, determinism, drift, and students' edits."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course_tools import ROOT, build
from course_utils.grading import exercises

SOURCES = build.find_sources(ROOT)


def test_every_source_has_at_least_five_exercises():
    assert SOURCES, "no notebook sources found"
    for src in SOURCES:
        assert len(exercises(src.section)) >= 5, src.name


@pytest.mark.parametrize("src", SOURCES, ids=lambda s: s.name)
def test_exercise_notebook_has_stubs_and_no_solution_text(src):
    nb = build.make_exercise(src)
    text = "\n".join(c.source for c in nb.cells)
    assert build.BEGIN not in text and build.END not in text
    assert build.BEGIN_STUB not in text and build.END_STUB not in text
    solution = build.make_solution(src)
    for ex in exercises(src.section):
        assert f"Exercise {ex.id}: {ex.hint}" in text
    # every distinctive line of every solution region is absent from the exercise notebook
    # (a find-the-bug exercise hands out the lines its buggy version shares with the solution)
    raw = src.read()
    for cell in raw.cells:
        regions = build._split_regions(cell.source, src.name)
        handed_out = {line.strip() for region, lines in regions if region == build.STUB for line in lines}
        for region, lines in regions:
            if region != build.SOLUTION:
                continue
            for line in lines[1:-1]:
                stripped = line.strip()
                if len(stripped) >= 12 and not stripped.startswith("#") and stripped not in handed_out:
                    assert stripped not in text, f"solution line leaks into exercises: {stripped}"
                    assert stripped in "\n".join(c.source for c in solution.cells)


@pytest.mark.parametrize("src", SOURCES, ids=lambda s: s.name)
def test_committed_exercise_notebook_is_byte_identical_to_a_fresh_generation(src, tmp_path):
    committed = (ROOT / "exercises" / f"{src.name}.ipynb").read_text()
    nb = build.make_exercise(src)
    out = tmp_path / "x.ipynb"
    build._write(nb, out)
    assert out.read_text() == committed


@pytest.mark.parametrize("src", SOURCES, ids=lambda s: s.name)
def test_generated_notebooks_are_clean(src):
    ex = build.make_exercise(src)
    assert all(not c.get("outputs") for c in ex.cells if c.cell_type == "code")
    assert "jupytext" not in ex.metadata and "widgets" not in ex.metadata
    assert ex.metadata["course"]["section"] == src.section
    ids = [c["id"] for c in ex.cells]
    assert len(set(ids)) == len(ids)
    nbformat.validate(ex)


def _stub_source(tmp_path: Path, body: str) -> build.Source:
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    path = tmp_path / "notebooks" / "01_tiny.py"
    path.write_text(body)
    return build.Source(path)


def test_stub_keeps_indentation_and_hint(tmp_path):
    cell = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    out = build._rewrite_cell(cell, "here", ("1.1", "add y"))
    assert out.splitlines() == [
        "def f(x):",
        "    y = 1",
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("Exercise 1.1: add y")',
    ]
    assert build._rewrite_cell(cell, "here", None).splitlines() == ["def f(x):", "    y = 1", "    return x + y"]


def test_find_the_bug_hands_out_the_buggy_body_and_the_solution_drops_it():
    cell = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
            "    ### BEGIN STUB\n    return x - y\n    ### END STUB\n")
    out = build._rewrite_cell(cell, "here", ("1.1", "one sign is wrong"))
    assert out.splitlines() == [
        "def f(x):",
        "    y = 1",
        "    # FIND THE BUG. Exercise 1.1: one sign is wrong",
        "    return x - y",
    ]
    assert build._rewrite_cell(cell, "here", None).splitlines() == ["def f(x):", "    y = 1", "    return x + y"]


def test_find_the_bug_kind_and_stub_region_go_together(tmp_path, monkeypatch):
    from course_utils.grading import core

    body = ('# %% exercise="1.1" kind="{kind}"\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\n'
            '    ### END SOLUTION\n{stub}\n# %%\ncheck("1.1", f)\n')
    stub = "    ### BEGIN STUB\n    return -x\n    ### END STUB"
    for kind, with_stub, message in (("find-the-bug", "", "needs a ### BEGIN STUB"),
                                     ("build", stub, "must not have a ### BEGIN STUB")):
        fake = core.Exercise("1.1", "01", "t", 1, "f", lambda fn: None, "h", kind=kind)
        monkeypatch.setattr(build, "registered_exercises", lambda section, fake=fake: [fake])
        src = _stub_source(tmp_path, body.format(kind=kind, stub=with_stub))
        with pytest.raises(build.SourceError, match=message):
            build.make_exercise(src)
    fake = core.Exercise("1.1", "01", "t", 1, "f", lambda fn: None, "h", kind="find-the-bug")
    monkeypatch.setattr(build, "registered_exercises", lambda section: [fake])
    nb = build.make_exercise(_stub_source(tmp_path, body.format(kind="find-the-bug", stub=stub)))
    assert "    return -x" in nb.cells[2].source and "return x\n" not in nb.cells[2].source


@pytest.mark.parametrize(
    "cell, message",
    [
        ("    ### BEGIN SOLUTION\n    x = 1\n", "never closed"),
        ("    ### END SOLUTION\n", "without a"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
        ("### BEGIN STUB\nx = 1\n### END STUB\n", "must follow"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n\n### BEGIN STUB\nx = 2\n### END STUB\n", "must follow"),
        ("### BEGIN SOLUTION\nx = 1\n### END STUB\n", "without a ### BEGIN STUB"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### BEGIN STUB\nx = 2\n", "never closed"),
    ],
)
def test_malformed_markers_give_a_clear_error(cell, message):
    with pytest.raises(build.SourceError, match=message):
        build._rewrite_cell(cell, "nb.py, cell 3", None)


def test_source_without_exercise_cells_is_rejected(tmp_path):
    src = _stub_source(tmp_path, "# %%\nx = 1\n")
    with pytest.raises(build.SourceError, match="no cell for exercise"):
        build.make_exercise(src)


def test_region_without_exercise_metadata_is_rejected(tmp_path):
    src = _stub_source(tmp_path, "# %%\ndef f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n")
    with pytest.raises(build.SourceError, match='needs cell metadata exercise='):
        build.make_exercise(src)


def _copy_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for folder in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


def test_drift_check_passes_on_the_repository_and_catches_an_edit(tmp_path):
    assert build.check_drift(ROOT) == []
    root = _copy_course(tmp_path)
    src = build.find_sources(root)[0]
    path = root / "solutions" / f"{src.name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\n# an edit made by hand"
    nbformat.write(nb, path)
    problems = build.check_drift(root)
    assert any("cell 1: differs" in p for p in problems)


def test_drift_check_reports_missing_and_orphan_notebooks(tmp_path):
    root = _copy_course(tmp_path)
    src = build.find_sources(root)[0]
    (root / "exercises" / f"{src.name}.ipynb").unlink()
    shutil.copy(root / "solutions" / f"{src.name}.ipynb", root / "solutions" / "99_orphan.ipynb")
    problems = build.check_drift(root)
    assert any("is missing" in p for p in problems)
    assert any("99_orphan" in p for p in problems)


def test_build_never_overwrites_a_students_edited_exercise(tmp_path):
    root = _copy_course(tmp_path)
    src = build.find_sources(root)[0]
    path = root / "exercises" / f"{src.name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    exercise_cell = next(c for c in nb.cells if c.metadata.get("exercise"))
    exercise_cell.source = exercise_cell.source.replace("# YOUR CODE HERE", "return 42  # my answer")
    nbformat.write(nb, path)
    before = path.read_bytes()
    notes = build.build(src, root=root, execute_solutions=False)
    assert path.read_bytes() == before
    assert any("has edits" in n for n in notes)
    # an unedited exercise notebook is regenerated
    path.unlink()
    build.build(src, root=root, execute_solutions=False)
    assert json.loads(path.read_text())["metadata"]["course"]["role"] == "exercise"


def test_unreadable_exercise_file_counts_as_a_students(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text("{ not json")
    assert build.student_edited(path)


def _widget_notebook(ids: list[str], state_order: list[int]) -> nbformat.NotebookNode:
    """A notebook with one widget output: a box (ids[0]) holding a slider (ids[1]) with a style (ids[2])."""
    box, slider, style = ids
    state = {
        box: {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_{slider}"]}},
        slider: {"model_name": "FloatSliderModel", "state": {"style": f"IPY_MODEL_{style}"}},
        style: {"model_name": "SliderStyleModel", "state": {}},
    }
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("demo()")
    cell["id"] = "demo-cell"
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": box, "version_major": 2}})]
    nb.cells = [cell]
    ordered = [list(state)[i] for i in state_order]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {k: state[k] for k in ordered}}}
    return nb


def test_widget_ids_are_renumbered_the_same_whatever_the_random_ids_and_order():
    first = build._stable_widget_ids(_widget_notebook(["a" * 32, "b" * 32, "c" * 32], [2, 0, 1]))
    second = build._stable_widget_ids(_widget_notebook(["1" * 32, "2" * 32, "3" * 32], [1, 2, 0]))
    assert nbformat.writes(first) == nbformat.writes(second)
    state = first.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    box_id = first.cells[0].outputs[0].data["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert list(state)[0] == box_id
    assert state[box_id]["state"]["children"] == [f"IPY_MODEL_{list(state)[1]}"]


def test_consecutive_stream_outputs_are_merged():
    outs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
            nbformat.v4.new_output("stream", name="stdout", text="b\n"),
            nbformat.v4.new_output("stream", name="stderr", text="w\n"),
            nbformat.v4.new_output("stream", name="stdout", text="c\n")]
    merged = build._merge_streams(outs)
    assert [(o.name, o.text) for o in merged] == [("stdout", "a\nb\n"), ("stderr", "w\n"), ("stdout", "c\n")]


def test_points_in_the_text_must_match_the_check(tmp_path):
    src = build.find_sources(ROOT)[0]
    body = src.path.read_text().replace("### Exercise 1.1 (1 pt)", "### Exercise 1.1 (3 pts)")
    assert "(3 pts)" in body
    copy = _stub_source(tmp_path, body)
    with pytest.raises(build.SourceError, match="exercise 1.1 3 point"):
        build.make_exercise(copy)


@pytest.mark.parametrize("edit, says", [
    (lambda body: body.replace('exercise="1.1" kind="warm-up"', 'exercise="1.1"'), '1.1 has no kind'),
    (lambda body: body.replace('exercise="1.1" kind="warm-up"', 'exercise="1.1" kind="build"'),
     'says kind="build"; its check registers kind="warm-up"'),
])
def test_an_exercise_cell_says_the_kind_its_check_registers(tmp_path, edit, says):
    src = next(s for s in build.find_sources() if s.section == "01")
    body = src.path.read_text()
    assert 'exercise="1.1" kind="warm-up"' in body
    with pytest.raises(build.SourceError, match=re.escape(says)):
        build.make_exercise(_stub_source(tmp_path, edit(body)))


@pytest.mark.parametrize("src", build.find_sources(), ids=lambda s: s.name)
def test_generated_exercise_cells_carry_their_kind(src):
    kinds = {e.id: e.kind for e in exercises(src.section)}
    for nb in (build.make_exercise(src), build.make_solution(src)):
        cells = {c.metadata["exercise"]: c.metadata.get("kind") for c in nb.cells if "exercise" in c.metadata}
        assert cells == kinds
