#!/usr/bin/env bash
# `make check`: every stage, with its time. Stops at the first failing stage.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export MPLBACKEND=Agg PYTHONHASHSEED=0
summary=()
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100)); }
total_start=$(now_ms)

stage() {
  local name=$1; shift
  echo "=== $name: $*"
  local start; start=$(now_ms)
  "$@"
  local rc=$?
  local secs; secs=$(secs_since "$start")
  summary+=("$(printf '%-34s %7s s  %s' "$name" "$secs" "$([ $rc -eq 0 ] && echo ok || echo FAILED)")")
  if [ $rc -ne 0 ]; then
    echo "stage '$name' failed (exit $rc)"
    report; exit $rc
  fi
}

report() {
  echo; echo "=== make check: stage times"
  printf '%s\n' "${summary[@]}"
  printf '%-34s %7s s\n' "total" "$(secs_since "$total_start")"
  # make bench reports the latest total from build/check-times.json
  printf '%s\n' "${summary[@]}" | $PY scripts/check_times.py "$(secs_since "$total_start")"
}

stage "1 lint (ruff)" $PY -m ruff check course_utils tests notebooks scripts
stage "1b compile on Python 3.12, 3.13" bash scripts/compile_check.sh
stage "2 unit tests (pytest)" $PY -m pytest -q -n 2 --dist loadfile --ignore=tests/browser tests
stage "3 notebooks up to date" $PY -m course_tools.build --check
stage "3b README syllabus up to date" $PY -m course_tools.syllabus --check
stage "4 nbval solutions + exercises" $PY -m pytest -q -p no:randomly --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 \
  -n 2 --dist loadfile solutions exercises
stage "4c nbval in the Colab-like env" bash scripts/colab_env.sh
stage "5a grade: full marks on solutions" $PY -m course_tools.grade --expect full solutions/*.ipynb
stage "5b grade: zero on exercises" $PY -m course_tools.grade --expect zero exercises/*.ipynb
stage "6 browser: Lab and Voila demos" $PY -m pytest -q -p no:randomly tests/browser
report
