"""Every exercise and solution notebook, run top to bottom in a real JupyterLab.

For each notebook found in ``exercises/`` and ``solutions/``: Run All finishes with no
traceback, each check line says what it should ("not attempted yet" in an exercise,
"passed" in a solution), every demo renders as a widget, and each of its sliders
redraws the demo's plot on a key press. A screenshot goes to ``build/screenshots/``.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from course_tools import ROOT
from course_utils.grading import exercises
from course_utils.ui.demos import demos

pytestmark = pytest.mark.browser


NOTEBOOKS = sorted(path.relative_to(ROOT) for folder in ("exercises", "solutions")
                   for path in (ROOT / folder).glob("*.ipynb"))
CHECK_LINE = {
    "exercises": re.compile(r"Exercise (\d+\.\d+) \(0/\d+ pts?\): not attempted yet"),
    "solutions": re.compile(r"Exercise (\d+\.\d+) \(\d+ pts?\): passed"),
}
# A find-the-bug exercise hands out working code with one mistake: unfixed, its check fails and says so.
PROVIDED_LINE = re.compile(r"Exercise (\d+\.\d+) \(0/\d+ pts?\): failed: [^\n]*still the provided function's behaviour")


def demo_cells(nb, section: str) -> list[str]:
    """Sources of the cells that show a demo: a lone call of a registered factory, e.g. ``kl_fit_demo()``."""
    factories = {spec.name for spec in demos(section)}
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            body = ast.parse(cell.source).body
        except SyntaxError:
            continue
        if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Call):
            func = body[0].value.func
            if getattr(func, "id", getattr(func, "attr", None)) in factories:
                found.append(cell.source.strip())
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.with_suffix("").as_posix())
def test_notebook_runs_in_lab(lab, lab_page, ui, notebook):
    page = lab_page
    nb = nbformat.read(ROOT / notebook, as_version=4)
    role, section = notebook.parent.name, notebook.name[:2]
    n_code = sum(cell.cell_type == "code" for cell in nb.cells)
    demo_sources = demo_cells(nb, section)

    lab.open(page, notebook, n_cells=len(nb.cells))
    lab.run_all(page, n_code_cells=n_code)
    views = ui.wait_for_demo_views(page, len(demo_sources))
    ui.screenshot(page, f"lab-{role}-{notebook.stem}", scroller=lab.scroller)

    # The whole notebook ran, with no traceback (or other stderr output) anywhere.
    tracebacks = ui.tracebacks(page)
    assert not tracebacks, f"{notebook}: {len(tracebacks)} cell(s) wrote to stderr:\n\n" + "\n\n".join(tracebacks)
    prompts = [p for p in lab.input_prompts(page) if not re.search(r"\[\d+\]", p)]
    assert not prompts, f"{notebook}: {len(prompts)} code cell(s) never ran: {prompts}"

    # Each exercise's check prints its friendly line.
    outputs = "\n".join(ui.output_texts(page))
    handed_out = [ex.id for ex in exercises(section) if ex.kind == "find-the-bug" and role == "exercises"]
    expected_ids = [ex.id for ex in exercises(section) if ex.id not in handed_out]
    assert expected_ids, f"section {section} has no registered exercises"
    assert sorted(PROVIDED_LINE.findall(outputs)) == sorted(handed_out), (
        f"{notebook}: expected the find-the-bug exercises {handed_out} to fail as handed out")
    found_ids = CHECK_LINE[role].findall(outputs)
    assert sorted(found_ids) == sorted(expected_ids), (
        f"{notebook}: expected one {CHECK_LINE[role].pattern!r} line per exercise {expected_ids}, "
        f"found {found_ids}")

    # Every demo renders as a widget view with its image, every figure as a picture.
    problems = ui.render_problems(page)
    assert not problems, f"{notebook}: outputs that did not render:\n" + "\n".join(problems)
    assert len(views) == len(demo_sources), (
        f"{notebook}: {len(demo_sources)} demo cell(s) {demo_sources} but {len(views)} rendered demo view(s)")

    # Each visible slider redraws its demo's image.
    ui.assert_sliders_redraw(str(notebook), list(zip(demo_sources, views, strict=True)))
