"""Demo pages come from the widget registry: one page per section, an index, no copied demo code."""

from __future__ import annotations

import ast

import nbformat
import pytest

from course_tools import demo
from course_utils.ui.demos import demos, show_demo


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, demo.build(out)


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_one_page_per_section_with_demos_and_an_index(pages):
    out, written = pages
    sections = sorted({s.section for s in demos()})
    assert [p.name for p in written] == ["index.ipynb"] + [demo.page_name(s) for s in sections]
    for path in written:
        nbformat.validate(nbformat.read(path, as_version=4))


def test_each_page_calls_every_demo_of_its_section_through_the_registry(pages):
    out, _ = pages
    for section in sorted({s.section for s in demos()}):
        nb = nbformat.read(out / demo.page_name(section), as_version=4)
        calls = []
        for source in _code(nb):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "show_demo":
                    calls.append(tuple(a.value for a in node.args))
        assert calls == [(s.section, s.name) for s in demos(section)]
        assert all(len(src.splitlines()) == 1 for src in _code(nb)), "a page holds calls, not demo code"


def test_index_links_every_page_and_lists_every_demo(pages):
    out, _ = pages
    text = nbformat.read(out / "index.ipynb", as_version=4).cells[0].source
    for section in sorted({s.section for s in demos()}):
        assert f"]({demo.page_name(section)})" in text
        for spec in demos(section):
            assert spec.title in text


def test_show_demo_builds_the_lecture_preset_and_names_the_known_demos():
    spec = demos("01")[0]
    built = show_demo("01", spec.name)
    assert built.lecture is True
    with pytest.raises(KeyError, match=spec.name):
        show_demo("01", "no_such_demo")


def test_voila_command_serves_on_localhost_only(tmp_path):
    cmd, url = demo.voila_command(tmp_path, 8123)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8123" in cmd and "--no-browser" in cmd
    assert url == "http://127.0.0.1:8123/voila/render/index.ipynb"
    one, url_one = demo.voila_command(tmp_path, 8123, "01")
    assert one[1].endswith(demo.page_name("01")) and url_one == "http://127.0.0.1:8123/"


def test_unknown_section_is_refused_with_the_sections_that_exist(capsys, tmp_path):
    assert demo.main(["build", "--section", "99", "--out", str(tmp_path)]) == 2
    have = ", ".join(sorted({s.section for s in demos()}))
    assert f"sections with demos: {have}" in capsys.readouterr().err


def test_every_demo_declares_a_redraw_budget():
    for spec in demos():
        assert spec.budget_ms == (250.0 if spec.simulates else 100.0)


def test_section_titles_come_from_each_sources_first_heading():
    titles = demo.section_titles()
    assert titles["01"] == ("01_kl_elbo", "01 · KL divergence, latent variable models and the ELBO")
    assert all(not title.startswith("-") for _, title in titles.values())
