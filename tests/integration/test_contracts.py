"""The import-linter contracts (.importlinter) can fail: each is broken by a planted import on a copy of the package.

``make check`` runs ``lint-imports`` on the real tree (every contract kept); here the same contracts run on a copy
where one line per contract breaks the rule it states, and each must be reported broken.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import ROOT

LINT = Path(sys.executable).with_name("lint-imports")

# contract name (a unique prefix) -> (file to edit, the line appended to it)
PLANTED = {
    "Floors": ("course_utils/s01_kl_elbo/latent.py", "from ..s07_ddpm import diffusion  # a later section"),
    "A section uses other sections' math only": ("course_utils/s04_wasserstein/plots.py",
                                                 "from ..s03_gans import plots as gan_plots  # a view of section 03"),
    "The math imports no plots": ("course_utils/s05_flow_matching/flows.py", "from . import plots  # math -> view"),
    "The math imports no grading": ("course_utils/s01_kl_elbo/divergences.py", "from ..grading import compare"),
    "Nothing imports a section's checks": ("course_utils/s02_vae/vae.py", "from . import checks"),
    "Screen libraries": ("course_utils/s06_sde_langevin/sde.py", "import matplotlib.pyplot as plt"),
    "Checks and grading never need a screen": ("course_utils/s07_ddpm/checks.py", "from ..ui import render"),
    "The library imports no tools": ("course_utils/core/validation.py", "from course_tools import ROOT"),
}


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / ".importlinter")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def _status(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from lint-imports' report (names may wrap over two lines)."""
    text = re.sub(r"\s*\n\s*", " ", output)
    return {name: m.group(1) for name in PLANTED
            if (m := re.search(re.escape(name) + r".*? (KEPT|BROKEN)", text))}


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for folder in ("course_utils", "course_tools"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


def test_every_contract_is_kept_on_the_copy_as_it_is(copy):
    done = _lint(copy)
    assert done.returncode == 0, done.stdout[-3000:]
    assert set(_status(done.stdout).values()) == {"KEPT"} and len(_status(done.stdout)) == len(PLANTED)


def test_each_planted_import_breaks_its_contract(copy):
    for path, line in PLANTED.values():
        with open(copy / path, "a") as f:
            f.write(f"\n{line}\n")
    done = _lint(copy)
    assert done.returncode != 0
    assert _status(done.stdout) == {name: "BROKEN" for name in PLANTED}, done.stdout[-4000:]
