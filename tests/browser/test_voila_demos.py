"""Lecture demo mode: every `make demo` page, served by Voila and loaded in a real browser.

The index links each section's page under the section notebook's title; each page
shows one demo view per registered demo of its section, hides all code, shows no
traceback, and a key press on each visible slider redraws its demo's plot.
Screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from course_tools import ROOT, demo
from course_utils.ui.demos import demos

pytestmark = pytest.mark.browser


SECTIONS = sorted({spec.section for spec in demos()})
PAGE_LOAD_MS = 120_000  # Voila runs the whole page before it sends it


def notebook_title(section: str) -> str | None:
    """The first heading of the section's course notebook (what students see as its title)."""
    path = ROOT / "solutions" / demo.page_name(section)
    if not path.exists():
        return None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return None


def test_index_links_every_section_page_by_its_title(voila, page, ui):
    page.goto(voila.url("index.ipynb"), wait_until="load", timeout=PAGE_LOAD_MS)
    page.wait_for_selector("a[href$='.ipynb']")
    ui.screenshot(page, "demo-index", scroller=voila.scroller)

    links = dict(page.eval_on_selector_all("a[href$='.ipynb']", "links => links.map(a => [a.href, a.innerText])"))
    expected = {voila.url(demo.page_name(section)): section for section in SECTIONS}
    assert sorted(links) == sorted(expected), (
        f"index links {sorted(links)}, expected one per section: {sorted(expected)}")
    for url, section in expected.items():
        title = notebook_title(section)
        if title is not None:
            assert links[url].strip() == title, f"index: the link to {url} reads {links[url]!r}, expected {title!r}"


@pytest.mark.parametrize("section", SECTIONS)
def test_section_page_shows_working_demos(voila, page, ui, section):
    name = demo.page_name(section)
    specs = demos(section)
    page.goto(voila.url(name), wait_until="load", timeout=PAGE_LOAD_MS)
    views = ui.wait_for_demo_views(page, len(specs))
    ui.screenshot(page, f"demo-{name.removesuffix('.ipynb')}", scroller=voila.scroller)

    # The page ran cleanly and shows no code.
    text, errors = page.inner_text("body"), ui.tracebacks(page)
    assert not errors and "Traceback" not in text, f"{name} shows an error:\n" + ("\n\n".join(errors) or text[:3000])
    assert "show_demo(" not in page.content(), f"{name} shows its source code (Voila should hide it)"

    # One rendered view per registered demo.
    problems = ui.render_problems(page)
    assert not problems, f"{name}: outputs that did not render:\n" + "\n".join(problems)
    assert len(views) == len(specs), (
        f"{name}: {len(specs)} registered demo(s) {[s.name for s in specs]} but {len(views)} demo view(s)")

    # Each visible slider (the lecture preset hides some) redraws its demo's image.
    ui.assert_sliders_redraw(name, [(spec.name, view) for spec, view in zip(specs, views, strict=True)])

    # The page is titled like its notebook.
    title = notebook_title(section)
    if title is not None:
        heading = page.locator("h1").first.inner_text()
        assert title in heading, f"{name}: the page's heading reads {heading!r}, expected {title!r}"
