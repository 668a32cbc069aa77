"""Lecture demo mode: every widget demo of the course on Voila pages, code hidden.

    python -m course_tools.demo build [--out build/demo]
    python -m course_tools.demo serve [--section 01] [--port 8866]     (``make demo [SECTION=01]``)

``build`` writes one notebook per section that has demos, plus ``index.ipynb``
linking them. A page holds a title, and per demo a heading and one cell,
``show_demo("01", "kl_fit_demo")``: the same ``course_utils`` factory the
course notebook calls, with the lecture preset (secondary controls hidden).
The pages come from the demo registry (``@demo`` in each section's ``widgets`` module),
so a new section's demos appear with no list to edit.

``serve`` builds, then runs Voila on 127.0.0.1: the index (or one section's page
with ``--section``). Voila executes a page before it shows it, so demos build
from closed forms or quick computations; anything slow sits behind a button.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from . import ROOT

__all__ = ["section_titles", "section_page", "index_page", "build", "main"]

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
TITLE_RE = re.compile(r"^# #\s+(.+)$", re.MULTILINE)  # a markdown "# Title" inside a jupytext "# %% [markdown]" cell


def section_titles() -> dict[str, tuple[str, str]]:
    """section -> (notebook name, title) from each source's first heading."""
    from .build import find_sources

    titles = {}
    for src in find_sources(ROOT):
        match = TITLE_RE.search(src.path.read_text())
        titles[src.section] = (src.name, match.group(1).strip() if match else src.name)
    return titles


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    nb.cells = cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"demo-{i:03d}"
    return nb


def section_page(section: str) -> nbformat.NotebookNode:
    """The demo page of one section: a heading and one ``show_demo`` cell per demo."""
    from course_utils.ui.demos import demos

    name, title = section_titles().get(section, (section, f"Section {section}"))
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nLecture demos · [all sections](index.ipynb)"),
             nbformat.v4.new_code_cell("from course_utils.ui.demos import show_demo")]
    for spec in demos(section):
        cells.append(nbformat.v4.new_markdown_cell(f"## {spec.title}"))
        cells.append(nbformat.v4.new_code_cell(f'show_demo("{spec.section}", "{spec.name}")'))
    return _notebook(cells)


def page_name(section: str) -> str:
    return f"{section_titles().get(section, (section,))[0]}.ipynb"


def index_page(sections: list[str]) -> nbformat.NotebookNode:
    """Links to every section's page, with the titles of its demos."""
    from course_utils.ui.demos import demos

    titles = section_titles()
    lines = ["# Deep generative models: lecture demos", "",
             "One page per section; each shows that section's interactive demos with the lecture preset.", ""]
    for section in sections:
        title = titles.get(section, (section, f"Section {section}"))[1]
        lines.append(f"- [{title}]({page_name(section)})")
        lines += [f"    - {spec.title}" for spec in demos(section)]
    return _notebook([nbformat.v4.new_markdown_cell("\n".join(lines))])


def build(out: Path) -> list[Path]:
    """Write every section's page and the index to ``out`` (replacing older pages)."""
    from course_utils.ui.demos import demos

    sections = sorted({spec.section for spec in demos()})
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    written = []
    for section in sections:
        path = out / page_name(section)
        nbformat.write(section_page(section), path)
        written.append(path)
    nbformat.write(index_page(sections), out / "index.ipynb")
    return [out / "index.ipynb", *written]


def voila_command(out: Path, port: int, section: str | None = None) -> tuple[list[str], str]:
    """The Voila command line for the index (or one section's page), and the URL to open."""
    voila = shutil.which("voila", path=os.path.dirname(sys.executable)) or shutil.which("voila") or "voila"
    common = ["--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    if section is not None:
        return [voila, str(out / page_name(section)), *common], f"http://127.0.0.1:{port}/"
    return [voila, str(out), *common], f"http://127.0.0.1:{port}/voila/render/index.ipynb"


def main(argv: list[str] | None = None) -> int:
    from course_utils.core.registry import section_id
    from course_utils.ui.demos import demos

    parser = argparse.ArgumentParser(prog="python -m course_tools.demo", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("build", "serve"))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "demo")
    parser.add_argument("--section", help="serve one section's page (e.g. 01)")
    parser.add_argument("--port", type=int, default=8866)
    args = parser.parse_args(argv)
    section = section_id(args.section) if args.section else None
    if section is not None and not demos(section):
        have = ", ".join(sorted({s.section for s in demos()})) or "none"
        print(f"error: section {section} has no demos; sections with demos: {have}", file=sys.stderr)
        return 2
    pages = build(args.out)
    print(f"wrote {len(pages)} demo page(s) to {args.out}")
    if args.command == "build":
        return 0
    cmd, url = voila_command(args.out, args.port, section)
    print(f"serving with Voila: open {url}  (Ctrl-C stops it)", flush=True)
    return subprocess.call(cmd, cwd=args.out)


if __name__ == "__main__":
    sys.exit(main())
