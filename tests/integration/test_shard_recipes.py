"""The recipes of scripts/shards/ for grading a class in shards, run as their engines would run them.

No Slurm and no GitHub here: the Slurm job array's script runs with bash once per task id, with the
environment Slurm gives an array task, then the merge script; the GitHub Actions workflow's grading and
merge steps run with bash once per matrix value, with its expressions filled in and its artifacts copied
as upload-artifact and download-artifact would. Either way the merged gradebook must equal, byte for
byte, the gradebook of one run over the whole class. ``slurm_submit.sh`` runs with a fake ``sbatch``.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import require_sandbox

from course_tools import ROOT
from course_tools.autograde import synthetic

pytestmark = pytest.mark.integration

RECIPES = ROOT / "scripts" / "shards"
SECRET = "shard-recipes-test-secret"
STUDENTS = 5  # 4 shards of 2, 1, 1 and 1 students: one notebook takes a few seconds in the sandbox


#: what the recipes read from the environment, besides Slurm's SLURM_*: only what a test gives them
INPUTS = {"SUBMISSIONS", "GRADES", "SECTION", "NSHARDS", "SHARDS_DIR", "SHARDS", "ROSTER", "GRADE_ARGS", "COURSE", "PY",
          "CPUS_PER_TASK", "TIME", "SBATCH_ARGS"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "COURSE_GRADING_")) and k not in INPUTS}
    env["COURSE_GRADING_SECRET"] = SECRET
    env.update(extra)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """A generated class, each student's total, and the output folder of one run over the whole class."""
    require_sandbox()
    top = tmp_path_factory.mktemp("shard_recipes")
    totals = synthetic.random_class(top / "class", "01", STUDENTS, seed=3)
    _run([sys.executable, "-m", "course_tools.grade", str(top / "class"), "--out", str(top / "single"),
          "--section", "01", "--no-progress", "--jobs", "2"], ROOT, _env())
    return top / "class", totals, top / "single"


def _same_gradebook(merged: Path, single: Path, totals: dict[str, int]) -> None:
    got = (merged / "gradebook.csv").read_bytes()
    assert got == (single / "gradebook.csv").read_bytes()
    with (merged / "gradebook.csv").open(newline="") as f:  # and the single run is right
        assert {row["student"]: int(row["total"]) for row in csv.DictReader(f)} == totals


# --- Slurm: a job array, then the merge -------------------------------------------------------------------------


def _array_size(script: Path) -> int:
    found = re.findall(r"^#SBATCH\s+--array=1-(\d+)\s*$", script.read_text(), re.M)
    assert len(found) == 1, f"{script.name} needs one '#SBATCH --array=1-N' line"
    return int(found[0])


def test_slurm_array_then_merge_equals_one_run(single, tmp_path):
    klass, totals, one = single
    n = _array_size(RECIPES / "slurm_grade.sbatch")
    inputs = {"SUBMISSIONS": str(klass), "GRADES": str(tmp_path / "grades"), "SECTION": "01"}
    if not (ROOT / ".venv" / "bin" / "python").exists():
        inputs["PY"] = sys.executable  # the recipe's default is the checkout's .venv (make install)
    # As Slurm starts an array's tasks: all at once (cores allowing), in the submit folder, each with its id.
    tasks = [subprocess.Popen(
        ["bash", str(RECIPES / "slurm_grade.sbatch")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=_env(**inputs, SLURM_ARRAY_TASK_ID=str(i), SLURM_ARRAY_TASK_COUNT=str(n),
                            SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_MAX=str(n), SLURM_SUBMIT_DIR=str(ROOT),
                            SLURM_CPUS_PER_TASK="1", SLURM_JOB_ID=str(100 + i), SLURM_ARRAY_JOB_ID="100"))
        for i in range(1, n + 1)]
    for i, task in enumerate(tasks, 1):
        out, _ = task.communicate(timeout=600)
        assert task.returncode == 0, f"task {i} exited {task.returncode}:\n{out}"
        assert (tmp_path / "grades-shards" / str(i) / f"shard-{i}-of-{n}.json").is_file(), out
    # The merge job (afterok: every task succeeded); the shards' grading secret is not needed there.
    merge_env = _env(**inputs, NSHARDS=str(n), SLURM_SUBMIT_DIR=str(ROOT), SLURM_JOB_ID="200")
    del merge_env["COURSE_GRADING_SECRET"]
    _run(["bash", str(RECIPES / "slurm_merge.sbatch")], ROOT, merge_env)
    _same_gradebook(tmp_path / "grades", one, totals)


@pytest.fixture
def fake_sbatch(tmp_path):
    """A ``sbatch`` on PATH that records each call's arguments and NSHARDS, and answers job ids 123, 124, ..."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "sbatch.log"
    (bin_ / "sbatch").write_text(f"""#!/bin/bash
n=$(grep -c '^call' {log} 2>/dev/null || true)
echo "call NSHARDS=$NSHARDS SUBMISSIONS=$SUBMISSIONS" >> {log}
printf 'arg %s\\n' "$@" >> {log}
echo "Submitted batch job $((123 + n))"
""")
    (bin_ / "sbatch").chmod(0o755)

    def calls() -> list[tuple[str, list[str]]]:
        found = []
        for line in log.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "call":
                found.append((rest, []))
            else:
                found[-1][1].append(rest)
        return found

    return bin_, calls


@pytest.mark.parametrize("n", [None, 3])
def test_slurm_submit_queues_the_merge_after_the_array(fake_sbatch, tmp_path, n):
    bin_, calls = fake_sbatch
    (tmp_path / "class").mkdir()
    args = [str(tmp_path / "class"), str(tmp_path / "grades")] + ([str(n), "01"] if n else [])
    env = _env(PATH=f"{bin_}{os.pathsep}{os.environ['PATH']}", CPUS_PER_TASK="2")
    done = _run(["bash", str(RECIPES / "slurm_submit.sh"), *args], tmp_path, env)
    n = n or _array_size(RECIPES / "slurm_grade.sbatch")  # by default, the size the array script names
    assert done.stdout.splitlines()[:2] == ["array=123", "merge=124"], done.stdout
    (grade_env, grade), (merge_env, merge) = calls()
    assert grade[-1] == str(RECIPES / "slurm_grade.sbatch") and f"--array=1-{n}" in grade
    assert "--cpus-per-task=2" in grade and not any(a.startswith("--dependency") for a in grade)
    assert merge[-1] == str(RECIPES / "slurm_merge.sbatch") and "--dependency=afterok:123" in merge
    assert not any(a.startswith("--array") for a in merge)
    for env_line in (grade_env, merge_env):  # the jobs get N and the class through the environment
        assert env_line == f"NSHARDS={n} SUBMISSIONS={tmp_path / 'class'}"
    assert (tmp_path / "grades-shards" / "logs").is_dir()  # sbatch --output needs the folder


# --- GitHub Actions: a matrix of grade jobs, one per shard, then the merge job ---------------------------------------

WORKFLOW = RECIPES / "github_actions_grade.yml"


def _expand(text: str, values: dict[str, str]) -> str:
    """Fill in ``${{ expr }}`` as Actions would; an expression this test does not know fails it."""
    def one(m):
        assert m.group(1) in values, f"{WORKFLOW.name}: the test does not know ${{{{ {m.group(1)} }}}}"
        return values[m.group(1)]
    return re.sub(r"\$\{\{\s*([^}]*?)\s*\}\}", one, str(text))


def _grading(step: dict) -> bool:
    """The steps run here: those that run the grader (checkout, installs, artifacts are the runner's)."""
    return "course_tools.grade" in step.get("run", "")


def _step(step: dict, values: dict[str, str], workflow_env: dict, cwd: Path) -> None:
    """Run a step's ``run:`` as a Linux runner does with ``shell: bash``: bash --noprofile --norc -eo pipefail."""
    env = _env(**{k: _expand(v, values) for k, v in workflow_env.items()})
    del env["COURSE_GRADING_SECRET"]  # only where the step's env gives it
    env.update({k: _expand(v, values) for k, v in step.get("env", {}).items()})
    _run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _expand(step["run"], values)], cwd, env)


def test_github_actions_matrix_then_merge_equals_one_run(single, tmp_path):
    klass, totals, one = single
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow.get("defaults", {}).get("run", {}).get("shell") == "bash"
    grade, merge = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    shards = grade["strategy"]["matrix"]["shard"]
    n = len(shards)
    assert shards == list(range(1, n + 1))
    assert merge["needs"] in ("grade", ["grade"])
    grading = [s for s in grade["steps"] if _grading(s)]
    assert len(grading) == 1 and f"/{n} " in grading[0]["run"], "the grade step needs --shard <matrix.shard>/N"
    merging = [s for s in merge["steps"] if _grading(s)]
    assert len(merging) == 1 and "--merge" in merging[0]["run"]
    secret = re.sub(r"\s", "", grading[0].get("env", {}).get("COURSE_GRADING_SECRET", ""))
    assert secret == "${{secrets.COURSE_GRADING_SECRET}}", "the grade step's secret: the repository's"

    # The runner's checkout: make install leaves .venv there (this test's environment stands in for it).
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (checkout / "submissions").symlink_to(klass, target_is_directory=True)
    inputs = {"inputs.submissions": "submissions", "inputs.section": "01",
              "secrets.COURSE_GRADING_SECRET": SECRET}
    workflow_env = workflow["env"]
    values = dict(inputs, **{f"env.{k}": _expand(v, inputs) for k, v in workflow_env.items()})
    assert {"SUBMISSIONS", "SECTION"} <= set(workflow_env)
    artifacts = tmp_path / "artifacts"
    for shard in shards:
        here = dict(values, **{"matrix.shard": str(shard)})
        # the shards' cache is the single run's: the recipe's commands run in full, but no notebook is graded a
        # third time (the Slurm test grades them again); the cache keys name the grader, the secret, the section
        shutil.copytree(one / ".cache", checkout / _expand("${{ env.SHARDS }}/${{ matrix.shard }}/.cache", here))
        _step(grading[0], here, workflow_env, checkout)
        upload = next(s for s in grade["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
        name, path = _expand(upload["with"]["name"], here), checkout / _expand(upload["with"]["path"], here)
        assert path.is_file(), f"shard {shard}: no {path}"
        (artifacts / name).mkdir(parents=True)
        shutil.copy2(path, artifacts / name / path.name)

    # The merge job: a fresh checkout, the artifacts downloaded (pattern: each into <path>/<name>/), the merge.
    checkout = tmp_path / "merge-checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    download = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    for artifact in sorted(artifacts.iterdir()):
        if fnmatch.fnmatch(artifact.name, download["with"]["pattern"]):
            shutil.copytree(artifact, checkout / _expand(download["with"]["path"], values) / artifact.name)
    _step(merging[0], values, workflow_env, checkout)
    _same_gradebook(checkout / workflow_env["GRADES"], one, totals)
