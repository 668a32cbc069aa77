"""What each test needs, as a pytest marker, from where it lives (so that no list is kept by hand):

- ``unit``: everything under tests/ but integration/ and browser/. No kernel, no subprocess, no browser:
  a unit test that starts a process fails, saying so (move it to tests/integration/);
- ``integration``: tests/integration/, and any test marked so explicitly: kernels, subprocesses, the grader's
  sandbox, ``make`` targets;
- ``notebook``: the notebooks of solutions/ and exercises/, run by nbval;
- ``browser``: tests/browser/: Chromium against JupyterLab and Voila.

``make test`` runs ``-m unit``; ``make check`` runs one stage per marker (scripts/check.sh).

``--section NN`` (``make check-section``) keeps the tests of one section: those under its test folder
(tests/sNN_slug/) and, elsewhere, the cases of its exercises (tests parametrised by ``ex_id``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from course_utils.core.registry import SECTION_FOLDER

ROOT = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "notebook", "browser")


def _kind(item) -> str:
    explicit = [k for k in KINDS if item.get_closest_marker(k) is not None]
    if explicit:
        return explicit[0]
    path = Path(str(item.fspath)).resolve()
    if path.suffix == ".ipynb":
        return "notebook"
    parts = path.relative_to(ROOT).parts if path.is_relative_to(ROOT) else path.parts
    if parts[:2] == ("tests", "integration"):
        return "integration"
    if parts[:2] == ("tests", "browser"):
        return "browser"
    return "unit"


def pytest_addoption(parser):
    parser.addoption("--section", default=None, metavar="NN",
                     help="only the tests of section NN: its test folder, and the cases of its exercises elsewhere")


def _of_section(item, section: str) -> bool:
    path = Path(str(item.fspath)).resolve()
    folders = [m.group(1) for part in path.parts if (m := SECTION_FOLDER.match(part))]
    if folders:
        return folders[0] == section
    ex_id = getattr(getattr(item, "callspec", None), "params", {}).get("ex_id")
    return ex_id is not None and ex_id.split(".")[0].zfill(2) == section


def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = _kind(item)
        if item.get_closest_marker(kind) is None:
            item.add_marker(getattr(pytest.mark, kind))
    section = config.getoption("section")
    if section is not None:
        section = section.zfill(2)
        keep = [item for item in items if _of_section(item, section)]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


class UnitTestStartedAProcess(OSError):
    """An OSError, as for a missing program, so that a library probing for an optional tool (jupytext asks
    for pandoc) carries on as it would without it, while a test that needs the process fails with this."""


class _NoProcesses(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        raise UnitTestStartedAProcess(f"a unit test starts no process (it tried {args!r}): move the test to "
                                      "tests/integration/ or mark it @pytest.mark.integration")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """Holds the ``unit`` marker to its word: subprocess.Popen (run, check_output, kernels) raises in a unit test."""
    if request.node.get_closest_marker("unit") is not None:
        monkeypatch.setattr(subprocess, "Popen", _NoProcesses)
    yield
