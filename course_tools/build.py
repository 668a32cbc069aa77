"""Generate the solution and exercise notebooks from each jupytext source.

``notebooks/NN_slug.py`` (jupytext percent format) is the one source of a
section. From it:

Both start with the same two cells (:mod:`course_tools.colab`): an "Open in Colab" badge with
the notation link, and a setup cell that installs the course package in Colab only. Then:

- ``solutions/NN_slug.ipynb``: solution markers removed, executed, outputs stored;
- ``exercises/NN_slug.ipynb``: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
  region replaced by a stub that raises NotImplementedError with the exercise's
  hint, outputs cleared, no widget state.

A find-the-bug exercise hands out code, not a stub: its solution region is followed at once by a
``### BEGIN STUB`` ... ``### END STUB`` region holding the provided function's body with its one
mistake. The exercise notebook gets that body (under a comment with the exercise's hint) in place of
the solution; the solution notebook drops it.

Usage::

    python -m course_tools.build            # regenerate everything (executes solutions)
    python -m course_tools.build 01         # only the sections whose name starts with 01
    python -m course_tools.build --check    # drift check: compare cell sources, execute nothing

An exercise notebook that a student has edited is never overwritten: the
build stamps each generated exercise notebook with a hash of its cells and
refuses to replace one whose cells no longer match that hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from course_utils.grading import exercises as registered_exercises

from . import ROOT, colab

__all__ = ["Source", "make_solution", "make_exercise", "check_drift", "main"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_STUB, END_STUB = "### BEGIN STUB", "### END STUB"
SOLUTION, STUB, PLAIN = "solution", "stub", ""
NAME_RE = re.compile(r"^(\d\d)[a-z]?_[a-z0-9_]+$")
KEEP_CELL_METADATA = ("tags", "exercise", "kind")
POINTS_RE = re.compile(r"Exercise (\d+\.\d+) \((\d+) pts?\)")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class SourceError(ValueError):
    """A notebook source that cannot be turned into notebooks; says where and why."""


@dataclass(frozen=True)
class Source:
    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def section(self) -> str:
        return self.name[:2]

    def read(self) -> nbformat.NotebookNode:
        if not NAME_RE.match(self.name):
            raise SourceError(f"{self.path}: a source is named NN_slug.py (two digits, then a slug)")
        return jupytext.read(self.path, fmt="py:percent")


def find_sources(root: Path = ROOT, prefix: str = "") -> list[Source]:
    return [Source(p) for p in sorted((root / "notebooks").glob(f"{prefix}*.py")) if p.stem[:2].isdigit()]


def _split_regions(cell_source: str, where: str) -> list[tuple[str, list[str]]]:
    """Split a cell into (region, lines) runs, region one of SOLUTION, STUB, PLAIN; validates the markers.

    The lines of a SOLUTION or STUB run start and end with their markers. A STUB region must follow a
    solution region directly: it is what the exercise notebook shows in the solution's place.
    """
    runs: list[tuple[str, list[str]]] = [(PLAIN, [])]
    inside = PLAIN
    pairs = {BEGIN: (SOLUTION, END), BEGIN_STUB: (STUB, END_STUB)}
    for number, line in enumerate(cell_source.splitlines(), 1):
        marker = line.strip()
        if marker in pairs:
            region, _ = pairs[marker]
            if inside:
                raise SourceError(f"{where}, line {number}: {marker} inside another region")
            if region == STUB and (not runs[-1][1] == [] or len(runs) < 2 or runs[-2][0] != SOLUTION):
                raise SourceError(f"{where}, line {number}: {BEGIN_STUB} must follow an {END} directly")
            inside = region
            if not runs[-1][1]:
                runs.pop()
            runs.append((region, [line]))
        elif marker in (END, END_STUB):
            expected = END if inside == SOLUTION else END_STUB if inside == STUB else None
            if marker != expected:
                opener = BEGIN if marker == END else BEGIN_STUB
                raise SourceError(f"{where}, line {number}: {marker} without a {opener}")
            inside = PLAIN
            runs[-1][1].append(line)
            runs.append((PLAIN, []))
        else:
            runs[-1][1].append(line)
    if inside:
        opener, closer = (BEGIN, END) if inside == SOLUTION else (BEGIN_STUB, END_STUB)
        raise SourceError(f"{where}: {opener} is never closed by {closer}")
    return [(region, lines) for region, lines in runs if lines]


def _stub(begin_line: str, hint: str, exercise_id: str) -> list[str]:
    indent = begin_line[: len(begin_line) - len(begin_line.lstrip())]
    message = json.dumps(f"Exercise {exercise_id}: {hint}")
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message})"]


def _provided(begin_line: str, hint: str, exercise_id: str, body: list[str]) -> list[str]:
    """A find-the-bug exercise's handed-out code: its hint as a comment, then the body with its mistake."""
    indent = begin_line[: len(begin_line) - len(begin_line.lstrip())]
    return [f"{indent}# FIND THE BUG. Exercise {exercise_id}: {hint}", *body]


def _rewrite_cell(source: str, where: str, stub_for: tuple[str, str] | None) -> str:
    """Drop the markers and stub regions (solution) or replace each solution region by its stub (exercise)."""
    runs = _split_regions(source, where)
    out: list[str] = []
    for index, (region, lines) in enumerate(runs):
        if region == PLAIN:
            out += lines
        elif region == STUB:
            continue  # written in the solution's place below, or dropped
        elif stub_for is None:
            out += lines[1:-1]
        elif index + 1 < len(runs) and runs[index + 1][0] == STUB:
            out += _provided(lines[0], stub_for[1], stub_for[0], runs[index + 1][1][1:-1])
        else:
            out += _stub(lines[0], stub_for[1], stub_for[0])
    return "\n".join(out)


def _validate(nb: nbformat.NotebookNode, src: Source) -> None:
    """Every exercise of the section has exactly one cell, a solution region and a check call."""
    expected = {e.id: e for e in registered_exercises(src.section)}
    seen: dict[str, int] = {}
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for index, cell in enumerate(nb.cells):
        ex_id = cell.metadata.get("exercise")
        has_region = BEGIN in cell.source
        has_stub = BEGIN_STUB in cell.source
        where = f"{src.path.name}, cell {index}"
        if has_region and ex_id is None:
            raise SourceError(f"{where}: a solution region needs cell metadata exercise=\"S.N\"")
        if ex_id is None:
            continue
        if ex_id not in expected:
            raise SourceError(f"{where}: exercise {ex_id} is not registered for section {src.section}")
        if ex_id in seen:
            raise SourceError(f"{where}: exercise {ex_id} already has cell {seen[ex_id]}")
        if not has_region:
            raise SourceError(f"{where}: exercise {ex_id} has no {BEGIN} region")
        kind = cell.metadata.get("kind")
        if kind != expected[ex_id].kind:
            said = f'says kind="{kind}"' if kind else "has no kind"
            raise SourceError(f'{where}: exercise {ex_id} {said}; its check registers kind="{expected[ex_id].kind}" '
                              f"(write # %% exercise=\"{ex_id}\" kind=\"{expected[ex_id].kind}\")")
        if (expected[ex_id].kind == "find-the-bug") != has_stub:
            need = "needs" if not has_stub else "is not a find-the-bug exercise and must not have"
            raise SourceError(f"{where}: exercise {ex_id} {need} a {BEGIN_STUB} region (the code handed out "
                              "with its one mistake, right after the solution region)")
        if f"def {expected[ex_id].function}(" not in cell.source:
            raise SourceError(f"{where}: exercise {ex_id} must define {expected[ex_id].function}()")
        if f'check("{ex_id}", {expected[ex_id].function})' not in text:
            raise SourceError(f'{src.path.name}: no check("{ex_id}", {expected[ex_id].function}) call')
        seen[ex_id] = index
    for match in POINTS_RE.finditer("\n".join(c.source for c in nb.cells if c.cell_type == "markdown")):
        ex_id, points = match.group(1), int(match.group(2))
        if ex_id in expected and expected[ex_id].points != points:
            raise SourceError(f"{src.path.name}: the text gives exercise {ex_id} {points} point(s), "
                              f"its check gives {expected[ex_id].points}")
    missing = sorted(set(expected) - set(seen), key=lambda s: [int(x) for x in s.split(".")])
    if missing:
        raise SourceError(f"{src.path.name}: no cell for exercise(s) {', '.join(missing)}")


def _generate(src: Source, role: str) -> nbformat.NotebookNode:
    nb = src.read()
    _validate(nb, src)
    hints = {e.id: e.hint for e in registered_exercises(src.section)}
    out = nbformat.v4.new_notebook()
    out.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "course": {"section": src.section, "source": f"notebooks/{src.path.name}", "role": role},
    }
    out.cells += _header_cells(src, role)
    for index, cell in enumerate(nb.cells):
        where = f"{src.path.name}, cell {index}"
        ex_id = cell.metadata.get("exercise")
        stub_for = (ex_id, hints[ex_id]) if (role == "exercise" and ex_id) else None
        source = _rewrite_cell(cell.source, where, stub_for) if cell.cell_type == "code" else cell.source
        metadata = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata}
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(source, metadata=metadata)
        else:
            new = nbformat.v4.new_code_cell(source, metadata=metadata)
        new["id"] = f"{src.section}-{index:03d}"
        out.cells.append(new)
    return out


def _header_cells(src: Source, role: str) -> list[nbformat.NotebookNode]:
    """The two cells every notebook starts with: its Colab badge and notation link, and the Colab setup."""
    path = f"{'exercises' if role == 'exercise' else 'solutions'}/{src.name}.ipynb"
    badge = nbformat.v4.new_markdown_cell(colab.header_source(path))
    setup = nbformat.v4.new_code_cell(colab.bootstrap_source())
    badge["id"], setup["id"] = f"{src.section}-colab", f"{src.section}-setup"
    return [badge, setup]


def cells_hash(nb: nbformat.NotebookNode) -> str:
    """Hash of the cells' types and sources: what a student's edit changes."""
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return h.hexdigest()[:16]


def make_exercise(src: Source) -> nbformat.NotebookNode:
    nb = _generate(src, "exercise")
    nb.metadata["course"]["cells_hash"] = cells_hash(nb)
    return nb


def make_solution(src: Source) -> nbformat.NotebookNode:
    return _generate(src, "solution")


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run all cells in a fresh kernel; drop the timing metadata execution adds."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
    return _stable_widget_ids(nb)


def _merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name (their split depends on flush timing)."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if out.output_type == "stream" and prev is not None and prev.output_type == "stream" \
                and prev.name == out.name:
            prev.text += out.text
        else:
            merged.append(out)
    return merged


_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


def _stable_widget_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Renumber the random widget model ids in a fixed order, so a re-run rewrites the same bytes.

    Models are numbered depth first from each widget output, in cell order, following the
    ``IPY_MODEL_`` references in each model's state; any left over are numbered by content.
    """
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    if not widgets:
        return nb
    state = widgets["state"]
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in state and model_id not in order:
            order.append(model_id)
            for ref in _MODEL_REF.findall(json.dumps(state[model_id]["state"], sort_keys=True)):
                visit(ref)

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view:
                visit(view["model_id"])
    order += sorted((m for m in state if m not in order), key=lambda m: json.dumps(state[m], sort_keys=True))
    mapping = {old: hashlib.md5(f"widget-{n}".encode()).hexdigest() for n, old in enumerate(order)}
    widgets["state"] = {old: state[old] for old in order}
    text = re.sub(r"[0-9a-f]{32}", lambda m: mapping.get(m.group(0), m.group(0)), nbformat.writes(nb))
    return nbformat.reads(text, as_version=4)


def _write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def student_edited(path: Path) -> bool:
    """True when an exercise notebook's cells no longer match the hash the build stamped."""
    if not path.exists():
        return False
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: treat as the student's, never overwrite
        return True
    stamped = nb.metadata.get("course", {}).get("cells_hash")
    return stamped != cells_hash(nb)


def build(src: Source, root: Path = ROOT, execute_solutions: bool = True) -> list[str]:
    """Write both notebooks of one source; returns notes for the user."""
    notes = []
    ex_path = root / "exercises" / f"{src.name}.ipynb"
    exercise = make_exercise(src)
    if student_edited(ex_path):
        notes.append(f"kept {ex_path.relative_to(root)}: it has edits (a student's work?); move it "
                     "aside to regenerate it")
    else:
        _write(exercise, ex_path)
    sol_path = root / "solutions" / f"{src.name}.ipynb"
    solution = make_solution(src)
    if execute_solutions:
        start = time.perf_counter()
        solution = execute(solution, cwd=sol_path.parent)
        notes.append(f"executed {sol_path.relative_to(root)} in {time.perf_counter() - start:.1f} s")
    _write(solution, sol_path)
    return notes


def _compare(expected: nbformat.NotebookNode, path: Path, root: Path) -> list[str]:
    rel = path.relative_to(root)
    if not path.exists():
        return [f"{rel} is missing: run `make notebooks`"]
    try:
        actual = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001
        return [f"{rel} is not a readable notebook ({err})"]
    problems = []
    exp_cells = [(c.cell_type, c.source) for c in expected.cells]
    act_cells = [(c.cell_type, c.source) for c in actual.cells]
    if len(exp_cells) != len(act_cells):
        problems.append(f"{rel} has {len(act_cells)} cells, its source makes {len(exp_cells)}")
    for i, (e, a) in enumerate(zip(exp_cells, act_cells, strict=False)):
        if e != a:
            problems.append(f"{rel}, cell {i}: differs from its source")
            break
    if expected.metadata["course"]["role"] == "exercise":
        if any(c.get("outputs") for c in actual.cells):
            problems.append(f"{rel} stores outputs; exercise notebooks must be clean")
        if "widgets" in actual.metadata:
            problems.append(f"{rel} stores widget state; exercise notebooks must be clean")
    return problems


def check_drift(root: Path = ROOT) -> list[str]:
    """Compare committed notebooks with a fresh generation (cell sources only, no execution)."""
    problems: list[str] = []
    sources = find_sources(root)
    names = {s.name for s in sources}
    for src in sources:
        try:
            problems += _compare(make_exercise(src), root / "exercises" / f"{src.name}.ipynb", root)
            problems += _compare(make_solution(src), root / "solutions" / f"{src.name}.ipynb", root)
        except SourceError as err:
            problems.append(str(err))
    for folder in ("exercises", "solutions"):
        for nb_path in sorted((root / folder).glob("*.ipynb")):
            if nb_path.stem not in names:
                problems.append(f"{folder}/{nb_path.name} has no source notebooks/{nb_path.stem}.py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.build", description=__doc__.split("\n")[0])
    parser.add_argument("prefix", nargs="?", default="", help="only sources whose name starts with this")
    parser.add_argument("--check", action="store_true", help="drift check only; executes nothing")
    parser.add_argument("--no-execute", action="store_true", help="write solutions without running them")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_drift()
        for p in problems:
            print(f"drift: {p}")
        if not problems:
            print(f"notebooks up to date with their {len(find_sources())} source(s)")
        return 1 if problems else 0
    sources = find_sources(prefix=args.prefix)
    if not sources:
        print(f"no source notebooks/{args.prefix}*.py", file=sys.stderr)
        return 2
    status = 0
    for src in sources:
        try:
            for note in build(src, execute_solutions=not args.no_execute):
                print(f"{src.name}: {note}")
        except SourceError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
