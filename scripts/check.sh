#!/usr/bin/env bash
# `make check` and its parts: one stage per kind of test (the pytest markers of conftest.py), each timed.
# Stops at the first failing stage.
#
#   scripts/check.sh [STAGE ...]      default: lint unit integration notebook   (`make check`, about 10 minutes)
#
#   lint         ruff; the import-linter contracts (.importlinter); compile on Python 3.12 and 3.13;
#                the generated notebooks and the README's syllabus match their sources
#   unit         pytest -m unit: every test that needs no kernel, no subprocess, no browser
#   integration  pytest -m integration: the grader's sandbox, make targets, kernels, the new-section walkthrough
#   notebook     every notebook of solutions/ and exercises/ under nbval in the main environment, then
#                grading both ways (full marks on every solution, zero on every exercise)
#   colab        every notebook under nbval in the Colab-like environment .venv-colab   (`make check-colab`)
#   browser      pytest -m browser: every notebook in JupyterLab, every demo page in Voila  (`make check-browser`)
#
# `make check` leaves colab and browser out to stay near 10 minutes on 2 cores; CI's .ci/run runs them after it.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export MPLBACKEND=Agg PYTHONHASHSEED=0
NBVAL=(-p no:randomly --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 -n 2 --dist loadfile)
summary=()
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100)); }
total_start=$(now_ms)

report() {
  echo; echo "=== stage times"
  printf '%s\n' "${summary[@]}"
  printf '%-44s %7s s\n' "total" "$(secs_since "$total_start")"
  # make bench reports the latest times from build/check-times.json
  printf '%s\n' "${summary[@]}" | $PY scripts/check_times.py "$(secs_since "$total_start")"
}

step() {  # step NAME COMMAND...: one timed command of a stage
  local name=$1; shift
  echo "=== $name: $*"
  local start; start=$(now_ms)
  "$@"
  local rc=$?
  summary+=("$(printf '%-44s %7s s  %s' "$name" "$(secs_since "$start")" "$([ $rc -eq 0 ] && echo ok || echo FAILED)")")
  if [ $rc -ne 0 ]; then
    echo "'$name' failed (exit $rc)"
    report; exit $rc
  fi
}

lint() {
  step "lint: ruff" $PY -m ruff check course_utils course_tools tests notebooks scripts conftest.py
  step "lint: import contracts (import-linter)" .venv/bin/lint-imports --no-cache
  step "lint: compile on Python 3.12, 3.13" bash scripts/compile_check.sh
  step "lint: notebooks match their sources" $PY -m course_tools.build --check
  step "lint: README syllabus matches the registry" $PY -m course_tools.syllabus --check
}
unit() { step "unit" $PY -m pytest -q -m unit -n 2 tests; }
integration() { step "integration" $PY -m pytest -q -m integration -n 2 tests; }
notebook() {
  step "notebook: nbval, main environment" $PY -m pytest -q "${NBVAL[@]}" solutions exercises
  step "notebook: grading gives full marks" $PY -m course_tools.grade --expect full solutions/*.ipynb
  step "notebook: grading gives zero" $PY -m course_tools.grade --expect zero exercises/*.ipynb
}
colab() { step "colab: nbval, Colab-like environment" bash scripts/colab_env.sh; }
browser() { step "browser" $PY -m pytest -q -p no:randomly -m browser -n 2 --dist load tests/browser; }

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint unit integration notebook)
for s in "${stages[@]}"; do
  case "$s" in
    lint|unit|integration|notebook|colab|browser) "$s" ;;
    *) echo "unknown stage '$s': lint, unit, integration, notebook, colab or browser" >&2; exit 2 ;;
  esac
done
report
