"""Colab: every notebook's badge and setup cell, and a package that keeps Colab's own libraries."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import types

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from course_tools import ROOT, build, colab

#: What Colab's runtime ships (its 2026-08 image); the bootstrap must never replace these.
COLAB = {"torch": "2.11.0", "matplotlib": "3.10.0", "numpy": "2.1.0", "ipywidgets": "7.7.1",
         "ipython": "7.34.0", "tqdm": "4.67.1", "scipy": "1.16.0", "scikit-learn": "1.6.1"}
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))


def test_colab_versions_satisfy_every_dependency_so_pip_keeps_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert Version("3.13.0") in Requirement(f"python{project['requires-python']}").specifier
    for dep in map(Requirement, project["dependencies"]):
        if dep.name in COLAB:
            assert dep.specifier.contains(COLAB[dep.name]), f"{dep} would make pip replace Colab's {dep.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_opens_with_its_own_badge_and_the_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    rel = f"{path.parent.name}/{path.name}"
    badge, setup = nb.cells[0], nb.cells[1]
    assert badge.cell_type == "markdown" and colab.colab_url(rel) in badge.source
    assert "colab-badge.svg" in badge.source and "NOTATION.md" in badge.source
    assert setup.cell_type == "code" and setup.source == colab.bootstrap_source()
    assert nb.cells[2].cell_type == "markdown" and nb.cells[2].source.startswith("# ")  # then the title
    if path.parent.name == "solutions":
        assert setup.outputs == []  # off Colab it printed nothing


def _run_setup(monkeypatch, in_colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if in_colab:
        google = types.ModuleType("google")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(colab.bootstrap_source(), "<setup cell>", "exec"), {})
    return calls


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_setup(monkeypatch, in_colab=False) == []


def test_setup_cell_installs_the_course_package_alone_in_colab(monkeypatch):
    ((args, kwargs),) = _run_setup(monkeypatch, in_colab=True)
    command = args[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and kwargs == {"check": True}
    packages = [c for c in command[4:] if not c.startswith("-")]
    assert packages == [colab.install_target()]
    assert not any(flag in command for flag in ("-U", "--upgrade", "--force-reinstall", "--upgrade-strategy"))


def test_urls_come_from_the_one_setting(monkeypatch):
    monkeypatch.setattr(colab, "REPOSITORY", "https://github.com/someone/fork")
    monkeypatch.setattr(colab, "BRANCH", "dev")
    assert colab.colab_url("exercises/01_kl_elbo.ipynb") == \
        "https://colab.research.google.com/github/someone/fork/blob/dev/exercises/01_kl_elbo.ipynb"
    assert colab.install_target() == "git+https://github.com/someone/fork.git@dev"
    src = build.find_sources(ROOT)[0]
    assert "someone/fork/blob/dev/solutions/" in build.make_solution(src).cells[0].source
    monkeypatch.setattr(colab, "REPOSITORY", "gitlab.com/x/y")
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        colab.badge("x.ipynb")


def test_the_notation_page_exists_and_covers_the_conventions():
    text = (ROOT / colab.NOTATION).read_text()
    for phrase in ("N(mean, variance)", "t = 0", "abar_t", "alpha_t", "beta_t", "t_flow = 1 - t/T"):
        assert phrase in text, phrase
