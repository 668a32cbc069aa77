#!/usr/bin/env bash
# `make check-latest`: every notebook and the unit tests against the newest releases on the package index,
# to see what Colab's next stack will break before Colab ships it. Not part of `make check`: its result
# depends on the day.
#
#   scripts/check_latest.sh [PYTEST ARGS ...]     e.g. -x, or -k 03_gans (passed to every pytest run)
#
# Builds .venv-latest with no pin, no lock and no constraint file of the course's: pip resolves the newest
# releases of NEWEST below, of the course package's own dependencies and of everything they need. The env is
# reused for the rest of the day it was built (while this script and pyproject.toml are unchanged);
# LATEST_REBUILD=1 resolves it again now.
#
# torch: by default the newest release pip may install here (`torch`, unpinned). On a machine whose pip is
# capped by /etc/xdg/pip that is the newest release lying on disk (a CUDA build: about 3 GB of wheels read
# from the disk, 5.2 GB of torch, nvidia-* and triton in a 6.1 GB env, 56 MB downloaded); elsewhere it is
# PyPI's newest CUDA build (about 2.6 GB to download). LATEST_TORCH=pinned keeps requirements.txt's torch
# (the 2.13.0 CPU build, 190 MB) instead. PYTHON=/path/to/python3.13 builds the env on Colab's Python
# (then pip downloads that Python's torch).
#
# Two runs, one env: the newest ipywidgets 8.x (what JupyterLab users get), then the newest 7.x (Colab pins
# 7.7.1); each run installs its ipywidgets first (on a reused env the 8.x run also has what 7.x brought:
# notebook, ipython_genutils), then runs nbval on solutions/ and exercises/ and the unit tests. A summary at
# the end lists the versions, the counts and each failure's first error line; the JUnit reports are in
# build/check-latest/. Exits 1 when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-latest
PY=$VENV/bin/python
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
REPORTS=build/check-latest
#: Taken at their newest release (no version given): the notebooks' and the tests' own needs, beside
#: those the course package declares (pyproject.toml), which pip resolves to their newest too.
NEWEST=(numpy scipy matplotlib scikit-learn POT tqdm nbformat nbclient jupytext cloudpickle
        jupyterlab jupyter_client ipykernel ipython traitlets comm
        nbval pytest pytest-xdist pyyaml pillow packaging)
#: One run per ipywidgets major: 8 (the newest), then 7 (Colab's).
WIDGETS=("ipywidgets>=8,<9" "ipywidgets>=7,<8")
#: Printed at the start and in the summary.
SHOWN="python numpy scipy matplotlib ipywidgets widgetsnbextension jupyterlab_widgets jupyterlab ipykernel
       ipython jupyter_client traitlets comm scikit-learn POT torch tqdm nbformat nbclient nbval pytest pytest-xdist"

case "${LATEST_TORCH:-newest}" in
  newest) TORCH=torch ;;
  pinned) TORCH=$(grep -E '^torch==' requirements.txt) ;;
  *) echo "LATEST_TORCH must be newest or pinned, not '${LATEST_TORCH}'" >&2; exit 2 ;;
esac

now() { date +%s; }
pip_quiet() {  # pip_quiet LOG ARGS...: pip install, its output shown only when it fails
  local log=$1; shift
  "$PY" -m pip install --quiet --disable-pip-version-check "$@" > "$log" 2>&1 ||
    { tail -n 40 "$log"; echo "pip failed (its log: $log)"; return 1; }
}

# 1. The environment: resolved fresh, reused only on the day it was built.
want="$(date +%F) $(cat scripts/check_latest.sh pyproject.toml | sha256sum | cut -c1-16) $TORCH"
build_start=$(now)
if [ "${LATEST_REBUILD:-0}" = 1 ] || [ ! -f "$VENV/.built" ] || [ "$(cat "$VENV/.built")" != "$want" ]; then
  echo "building $VENV: the newest releases on the index, no pins (a minute or two; reused for the rest of today)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip_quiet "$VENV/pip.log" --upgrade pip
  pip_quiet "$VENV/pip.log" "${NEWEST[@]}" "$TORCH" "${WIDGETS[0]}" -e .
  echo "$want" > "$VENV/.built"
  echo "built $VENV in $(( $(now) - build_start )) s"
else
  echo "reusing $VENV, built today ($want; LATEST_REBUILD=1 resolves it again)"
fi
build_secs=$(( $(now) - build_start ))

versions() {
  "$PY" - $SHOWN <<'PY'
import importlib.metadata as md
import platform
import sys
have = [f"python {platform.python_version()}"]
for name in sys.argv[1:]:
    if name != "python":
        try:
            have.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            have.append(f"{name} (not installed)")
print(", ".join(have))
PY
}

# 2. The runs. A failing run does not stop the next one: the summary lists them all.
export PYDEVD_DISABLE_FILE_VALIDATION=1 MPLBACKEND=Agg PYTHONHASHSEED=0
NBVAL=(-p no:randomly --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 -n 2 --dist loadfile)
rm -rf "$REPORTS"; mkdir -p "$REPORTS"
status=0
times=()
for spec in "${WIDGETS[@]}"; do
  major=${spec#ipywidgets>=}; major=${major%%,*}
  pip_quiet "$REPORTS/pip-ipywidgets$major.log" "$spec"
  "$PY" -c "import ipywidgets, sys; sys.exit(ipywidgets.__version__.split('.')[0] != '$major')" ||
    { echo "ipywidgets $major.x did not install"; exit 1; }
  versions | tee "$REPORTS/ipywidgets$major.versions"
  start=$(now)
  echo "=== ipywidgets $major: notebooks (nbval on solutions/ and exercises/)"
  "$PY" -m pytest -q "${NBVAL[@]}" --junitxml="$REPORTS/ipywidgets$major-notebooks.xml" solutions exercises "$@" ||
    status=1
  times+=("ipywidgets $major: notebooks $(( $(now) - start )) s")
  start=$(now)
  echo "=== ipywidgets $major: unit tests (pytest -m unit)"
  "$PY" -m pytest -q -m unit -n 2 --junitxml="$REPORTS/ipywidgets$major-unit.xml" tests "$@" || status=1
  times+=("ipywidgets $major: unit tests $(( $(now) - start )) s")
done

# 3. The summary: versions, counts, and the first error line of each failure.
echo; echo "=== check-latest summary ($(date +%F))"
echo "build: $build_secs s"; printf '%s\n' "${times[@]}"
"$PY" scripts/check_latest_summary.py "$REPORTS" || status=1
exit $status
