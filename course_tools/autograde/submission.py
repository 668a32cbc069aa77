"""Read a submitted notebook, and build the program the grader runs for it.

nbgrader's rule: the provided cells come from the course's source, and only
the exercise cells come from the submission. A student who edits or deletes
a provided cell, or prints a fake "passed" line, changes nothing the grader
runs or reads. The program is the section's source, cell by cell, with each
exercise cell replaced by the student's version of it. It stops after the
last exercise cell, and it leaves out cells that only draw (a call to a
section's ``plots`` or ``widgets`` function (``course_utils.s01_kl_elbo.plots``), or a
``check``/``score_table`` line): those bind no names, so they cannot change
the functions being graded, and skipping them is most of the grader's speed.

A submission is parsed leniently (Colab and old Jupyter versions write
slightly different JSON), but anything that is not a notebook gets a sentence
saying what it is instead.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import symtable
from dataclasses import dataclass, field

from course_utils.grading import exercises

__all__ = ["Step", "Submission", "read_submission", "program", "SubmissionError"]

#: Modules whose functions only draw or print: a section's plots and widgets (old names too), and grading.
DISPLAY_MODULE = re.compile(r"^course_utils\.(s\d\d_\w+\.(plots|widgets)|plotting|widgets|grading)(\.|$)")


class SubmissionError(ValueError):
    """A file that cannot be graded at all; the message says why."""


@dataclass(frozen=True)
class Step:
    """One cell of the grading program.

    kind: "provided" (from the source) or "exercise" (the student's cell).
    exercise: the exercise id of an exercise step; function: the name it must define.
    """

    kind: str
    code: str
    exercise: str | None = None
    function: str | None = None


@dataclass
class Submission:
    """The exercise cells found in one submitted notebook.

    regions: exercise id -> the source of the student's cell for it.
    missing: exercise id -> why no cell was found.
    notes: things the feedback should mention (a duplicated exercise cell, ...).
    """

    name: str
    section: str
    regions: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _parse(data: bytes) -> dict:
    if not data.strip():
        raise SubmissionError("the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"not a notebook: the file is not UTF-8 text ({err.reason} at byte {err.start})") \
            from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise SubmissionError(f"not a notebook: invalid JSON ({err.msg} at line {err.lineno}, "
                              f"column {err.colno})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError("not a notebook: the JSON has no list of cells (is it an .ipynb file?)")
    nb["cells"] = [c for c in nb["cells"] if isinstance(c, dict)]
    return nb


def _defines(function: str) -> re.Pattern:
    return re.compile(rf"^\s*def\s+{re.escape(function)}\s*\(", re.MULTILINE)


def _guess_section(nb: dict, filename: str) -> str | None:
    """The notebook's section: from its metadata, its file name, or the exercises it holds."""
    meta = nb.get("metadata", {})
    course = meta.get("course", {}) if isinstance(meta, dict) else {}
    section = course.get("section") if isinstance(course, dict) else None
    if isinstance(section, str) and re.fullmatch(r"\d\d", section):
        return section  # the build stamped it: trust it even for a section this course lacks
    match = re.match(r"(\d\d)[a-z]?_", filename.replace("\\", "/").rsplit("/", 1)[-1])
    if match and exercises(match.group(1)):
        return match.group(1)
    code = "\n".join(_cell_source(c) for c in nb["cells"] if c.get("cell_type") == "code")
    counts: dict[str, int] = {}
    for ex in exercises():
        if _defines(ex.function).search(code):
            counts[ex.section] = counts.get(ex.section, 0) + 1
    return max(counts, key=counts.get) if counts else None


def read_submission(data: bytes, filename: str, section: str | None = None) -> Submission:
    """Find each exercise's cell in a submitted notebook.

    A cell belongs to exercise ``S.N`` when its metadata says ``exercise: "S.N"`` (the
    generated notebooks carry it) or, failing that, when it defines the exercise's
    function. When several cells qualify, the last one counts (the latest attempt).

    Raises:
        SubmissionError: the file is not a notebook, or not one of ``section``.
    """
    nb = _parse(data)
    found = _guess_section(nb, filename)
    if found is None:
        raise SubmissionError("cannot tell which section this notebook belongs to: it has no course "
                              "metadata, its name does not start with a section number, and it defines "
                              "none of the exercises' functions")
    if section is not None and found != section:
        raise SubmissionError(f"this is a notebook of section {found}, not of section {section} "
                              "(wrong file submitted?)")
    if not exercises(found):
        raise SubmissionError(f"this is a notebook of section {found}, which has no graded exercises "
                              "in this version of the course")
    sub = Submission(filename, found)
    code_cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    for ex in exercises(found):
        tagged = [c for c in code_cells if isinstance(c.get("metadata"), dict)
                  and c["metadata"].get("exercise") == ex.id]
        if not tagged:
            tagged = [c for c in code_cells if _defines(ex.function).search(_cell_source(c))]
        if not tagged:
            sub.missing[ex.id] = (f"no cell for exercise {ex.id} was found (it defines {ex.function}()): "
                                  "was the exercise cell deleted?")
            continue
        if len(tagged) > 1:
            sub.notes.append(f"exercise {ex.id} has {len(tagged)} cells; the last one was graded")
        sub.regions[ex.id] = _cell_source(tagged[-1])
    return sub


def _display_names(cells: list) -> set[str]:
    """Names that provided cells import from the plotting, widget and grading packages."""
    names: set[str] = set()
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and DISPLAY_MODULE.match(node.module):
                names |= {a.asname or a.name for a in node.names}
    return names


def display_only(code: str, names: set[str]) -> bool:
    """True for a cell that is one call of a plotting, widget or grading function (binds no names)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    call = tree.body[0].value
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in names


@functools.cache
def _source_cells(section: str) -> tuple:
    from ..build import find_sources

    sources = find_sources(prefix=section)
    if not sources:
        raise SubmissionError(f"the course has no source for section {section}")
    return tuple(c for c in sources[0].read().cells if c.cell_type == "code")


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell binds at its top level, global names it reads anywhere, function bodies included).

    Uses the compiler's own symbol tables, so a function's parameters and locals are not
    mistaken for globals.
    """
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except SyntaxError:
        return set(), set()
    top = table.get_symbols()
    bound = {s.get_name() for s in top if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read = {s.get_name() for s in top if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        read |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        stack += child.get_children()
    return bound, read


BUILTIN_NAMES = frozenset(dir(builtins))


def needed_cells(provided: list[str], exercise_code: list[str]) -> list[bool]:
    """Which provided cells the exercise cells can depend on.

    A provided cell is needed when it binds a name that an exercise cell, or another
    needed cell, reads (imports, constants, helpers). A cell that binds nothing runs for
    its effect (``torch.set_default_dtype``) and is kept when every name it reads is
    available. Everything else (training a model, printing a figure's numbers) cannot
    change what the graded functions compute, and is left out: that is most of a
    section's run time. So keep global settings in a cell that also imports something.
    """
    names = [_names(code) for code in provided]
    wanted: set[str] = set().union(*(_names(code)[1] for code in exercise_code)) if exercise_code else set()
    keep = [False] * len(provided)
    changed = True
    while changed:
        changed = False
        for i, (bound, read) in enumerate(names):
            if not keep[i] and bound & wanted:
                keep[i], changed = True, True
                wanted |= read
    available = set(BUILTIN_NAMES).union(*(names[i][0] for i in range(len(provided)) if keep[i]))
    for i, (bound, read) in enumerate(names):
        if not keep[i] and not bound and read <= available:
            keep[i] = True
    return keep


def program(section: str, regions: dict[str, str], skip: frozenset[str] = frozenset()) -> list[Step]:
    """The steps the sandbox runs: the section's provided cells with the student's exercise cells.

    Provided cells that cannot affect the graded functions are left out (see
    :func:`needed_cells`), as are cells that only draw. Exercise ids in ``skip`` are left
    out (their cell crashed or hung the sandbox before).
    """
    cells = _source_cells(section)
    functions = {e.id: e.function for e in exercises(section)}
    last = max((i for i, c in enumerate(cells) if c.metadata.get("exercise")), default=-1)
    display = _display_names(cells)
    cells = cells[: last + 1]
    provided = [c for c in cells if c.metadata.get("exercise") is None and not display_only(c.source, display)]
    exercise_code = [c.source for c in cells if c.metadata.get("exercise")] + list(regions.values())
    keep = dict(zip(map(id, provided), needed_cells([c.source for c in provided], exercise_code), strict=True))
    steps = []
    for cell in cells:
        ex_id = cell.metadata.get("exercise")
        if ex_id is None:
            if keep.get(id(cell)):
                steps.append(Step("provided", cell.source))
        elif ex_id in regions and ex_id not in skip:
            steps.append(Step("exercise", regions[ex_id], ex_id, functions[ex_id]))
    return steps
