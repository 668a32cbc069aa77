#!/usr/bin/env bash
# `make check`, stage 4c: run every solution and exercise notebook in an environment as close to
# Google Colab as this machine allows (ipywidgets 7.7.1, matplotlib 3.10, numpy 2.1, IPython 7.34,
# with the course's pinned torch). Builds .venv-colab from requirements-colab.txt the first time
# (a few minutes) and reuses it while that file and pyproject.toml are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-colab
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
want=$(cat requirements-colab.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.installed" ] || [ "$(cat "$VENV/.installed")" != "$want" ]; then
  echo "building $VENV from requirements-colab.txt (once; reused by later runs)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  log="$VENV/pip.log"  # pip's output, shown only when it fails
  { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-colab.txt &&
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .; } > "$log" 2>&1 ||
    { tail -n 40 "$log"; echo "could not build $VENV (pip's log: $log)"; exit 1; }
  echo "$want" > "$VENV/.installed"
fi
# Say which versions ran, and stop if the environment is not the Colab-like one it claims to be.
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
want = {"ipywidgets": "7.7.", "matplotlib": "3.10.", "numpy": "2.1.", "ipython": "7.34.", "torch": "2.13.0"}
have = {name: md.version(name) for name in want}
print("Colab-like environment:", ", ".join(f"{n} {v}" for n, v in have.items()))
wrong = [f"{n} {have[n]} (want {p}*)" for n, p in want.items() if not have[n].startswith(p)]
if wrong:
    raise SystemExit("not the Colab-like versions: " + ", ".join(wrong))
PY
export PYDEVD_DISABLE_FILE_VALIDATION=1 MPLBACKEND=Agg
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 -n 2 --dist loadfile \
  solutions exercises "$@"
