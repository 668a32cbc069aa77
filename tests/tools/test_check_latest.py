"""make check-latest (scripts/check_latest.sh): newest releases, no pins, both ipywidgets majors, every notebook
and the unit tests; and its summary (scripts/check_latest_summary.py). Read, never run: no network here."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from course_tools import ROOT

SCRIPT = (ROOT / "scripts" / "check_latest.sh").read_text()
#: What issue 22 asks to take at its newest release.
TAKEN_NEWEST = {"numpy", "matplotlib", "jupyterlab", "scipy", "scikit-learn", "pot", "ipykernel", "ipython",
                "nbval", "pytest"}

_spec = importlib.util.spec_from_file_location("check_latest_summary", ROOT / "scripts" / "check_latest_summary.py")
summary = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_latest_summary", summary)  # dataclasses look their module up there
_spec.loader.exec_module(summary)


def _array(name: str) -> list[str]:
    """The words of the bash array NAME=(...) in the script."""
    match = re.search(rf"^{name}=\((.*?)\)$", SCRIPT, re.M | re.S)
    assert match, f"no array {name}=(...) in scripts/check_latest.sh"
    body = "\n".join(line.split("#", 1)[0] for line in match.group(1).splitlines())
    return shlex.split(body)


def _code_lines() -> list[str]:
    return [line for line in SCRIPT.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_packages_taken_newest_are_asked_for_without_a_version():
    newest = _array("NEWEST")
    names = {Requirement(word).name.lower() for word in newest}
    assert TAKEN_NEWEST <= names, f"not taken newest: {sorted(TAKEN_NEWEST - names)}"
    pinned = [word for word in newest if str(Requirement(word).specifier)]
    assert not pinned, f"NEWEST must give no version: {pinned}"


def test_the_build_uses_no_lock_no_constraint_and_resolves_dependencies():
    installs = [line for line in _code_lines() if '"${NEWEST[@]}"' in line]
    assert len(installs) == 1, "one pip install of NEWEST builds the env"
    install = installs[0]
    assert '"$TORCH"' in install and "-e ." in install and "--no-deps" not in install
    for line in _code_lines():
        if "pip" in line:
            assert not re.search(r"(^|\s)(-r|-c|--requirement|--constraint)(\s|=)", line), line
            assert "requirements" not in line, line
    # torch is unpinned by default; the course's pin only when asked for (LATEST_TORCH=pinned)
    assert re.search(r"^\s*newest\) TORCH=torch ;;$", SCRIPT, re.M)
    assert "LATEST_TORCH:-newest" in SCRIPT


def test_the_env_is_resolved_again_on_another_day():
    stamp = re.search(r'^want="(.*)"$', SCRIPT, re.M)
    assert stamp and "$(date +%F)" in stamp.group(1)
    assert 'rm -rf "$VENV"' in SCRIPT and "LATEST_REBUILD" in SCRIPT
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {".venv-latest", ".venv-latest/", ".venv*", ".venv*/"} & set(ignored), ".venv-latest is not git-ignored"


def test_one_run_per_ipywidgets_major_7_and_8():
    runs = [Requirement(word) for word in _array("WIDGETS")]
    assert all(r.name == "ipywidgets" for r in runs)
    majors = []
    for r in runs:
        allowed = [m for m in range(6, 11) if r.specifier.contains(Version(f"{m}.99"), prereleases=False)
                   and r.specifier.contains(Version(f"{m}.0"))]
        assert len(allowed) == 1, f"{r} should allow exactly one major release, allows {allowed}"
        majors.append(allowed[0])
    assert sorted(majors) == [7, 8]
    # the first (the env's build) is the newest major
    assert '"${WIDGETS[0]}"' in next(line for line in _code_lines() if '"${NEWEST[@]}"' in line)
    assert re.search(r'^for spec in "\$\{WIDGETS\[@\]\}"; do$', SCRIPT, re.M)


def test_each_run_takes_every_notebook_and_the_unit_tests():
    loop = SCRIPT[SCRIPT.index('for spec in "${WIDGETS[@]}"'):]
    loop = loop[:loop.index("\ndone")]
    runs = [line for line in loop.splitlines() if '"$PY" -m pytest' in line]
    assert len(runs) == 2, runs
    nbval, unit = sorted(runs, key=lambda line: '"${NBVAL[@]}"' not in line)
    assert '"${NBVAL[@]}"' in nbval and re.search(r"\ssolutions exercises\s", nbval), nbval
    assert re.search(r"-n 2 --dist loadfile", " ".join(_array("NBVAL")))
    assert "--nbval-lax" in _array("NBVAL") and "--nbval-current-env" in _array("NBVAL")
    assert re.search(r"\s-m unit\s", unit) and re.search(r"\stests\s", unit), unit
    assert loop.count("--junitxml=") == 2 and "status=1" in loop
    assert re.search(r"^exit \$status$", SCRIPT, re.M), "a failure must give a non-zero exit status"
    assert "set -euo pipefail" in SCRIPT


NBVAL_FAILURE = """solutions/03_gans.ipynb::Cell 12
Notebook cell execution failed
Cell 12: Cell execution caused an exception

Input:
plot_ring(g)

Traceback:
\x1b[0;31m---------------------------------------------------------------------------\x1b[0m
\x1b[0;31mTypeError\x1b[0m                                 Traceback (most recent call last)
Cell \x1b[0;32mIn[12], line 1\x1b[0m
\x1b[0;32m----> 1\x1b[0m plot_ring(g)
\x1b[0;31mTypeError\x1b[0m: Axes.scatter() got an unexpected keyword argument 'cmap_name'
"""


def test_first_error_line_of_a_notebook_cell_and_of_a_unit_test():
    expected = "TypeError: Axes.scatter() got an unexpected keyword argument 'cmap_name'"
    assert summary.first_error_line(NBVAL_FAILURE) == expected
    pytest_text = "def test_x():\n>       assert f() == 2\nE       assert 3 == 2\nE        +  where 3 = f()\n"
    assert summary.first_error_line(pytest_text) == "assert 3 == 2"
    assert summary.first_error_line("\n  kernel died\n") == "kernel died"


def _junit(tmp_path, name, cases):
    body = "".join(
        f'<testcase classname="{cls}" name="{test}">' + (f'<failure message="failed">{text}</failure>' if text else "")
        + "</testcase>" for cls, test, text in cases)
    xml = f'<?xml version="1.0"?><testsuites><testsuite>{body}</testsuite></testsuites>'
    (tmp_path / f"{name}.xml").write_text(xml)


def test_summary_lists_each_failing_notebook_once_and_fails(tmp_path, capsys):
    from xml.sax.saxutils import escape
    _junit(tmp_path, "ipywidgets7-notebooks", [
        ("solutions.03_gans.ipynb", "Cell 1", ""),
        ("solutions.03_gans.ipynb", "Cell 12", escape(NBVAL_FAILURE).replace("\x1b", "#x1B")),  # as pytest writes it
        ("solutions.03_gans.ipynb", "Cell 13", escape("NameError: name 'g' is not defined")),
        ("exercises.01_kl_elbo.ipynb", "Cell 2", "")])
    _junit(tmp_path, "ipywidgets8-unit", [("tests.core.test_fit", "test_ok", "")])
    (tmp_path / "ipywidgets7.versions").write_text("python 3.11.7, ipywidgets 7.8.5\n")
    assert summary.main(tmp_path) == 1
    out = capsys.readouterr().out
    assert "ipywidgets7: python 3.11.7, ipywidgets 7.8.5" in out
    assert "ipywidgets7-notebooks: 2 passed, 2 failed" in out
    assert "FAILED solutions/03_gans.ipynb::Cell 12: TypeError: Axes.scatter()" in out
    assert "Cell 13" not in out and "(1 more failing cells in solutions/03_gans.ipynb)" in out
    assert "ipywidgets8-unit: 1 passed, 0 failed" in out
    assert out.rstrip().endswith("something broke (see above)")


@pytest.mark.parametrize("reports, status", [({"ok": True}, 0), ({"ok": True, "broken": False}, 1), ({}, 1)])
def test_summary_exit_status(tmp_path, capsys, reports, status):
    for name, ok in reports.items():
        _junit(tmp_path, name, [("tests.t", "test_a", "" if ok else "E   ValueError: x")])
    assert summary.main(tmp_path) == status
    out = capsys.readouterr().out
    assert ("everything passed" in out) == (status == 0)
    if not reports:
        assert "nothing ran" in out
