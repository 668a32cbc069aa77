#!/usr/bin/env bash
# `make check-section S=NN`: the stages of `make check` that concern one section, in about a minute:
# lint, the section's tests, the drift check, its two notebooks under nbval, and grading both ways.
set -euo pipefail
cd "$(dirname "$0")/.."
NN=$1
PY=.venv/bin/python
export MPLBACKEND=Agg PYTHONHASHSEED=0
shopt -s nullglob
tests=(tests/test_*section"$NN"*.py)
notebooks=(solutions/"$NN"_*.ipynb exercises/"$NN"_*.ipynb)
[ ${#notebooks[@]} -gt 0 ] || { echo "no notebooks for section $NN: run make notebooks S=$NN first" >&2; exit 2; }
echo "=== lint";               $PY -m ruff check course_utils tests notebooks scripts
echo "=== tests: ${tests[*]:-none}"
[ ${#tests[@]} -eq 0 ] || $PY -m pytest -q -p no:randomly "${tests[@]}"
echo "=== notebooks up to date"; $PY -m course_tools.build --check
echo "=== syllabus table";       $PY -m course_tools.syllabus --check
echo "=== nbval";              $PY -m pytest -q -p no:randomly --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 "${notebooks[@]}"
echo "=== grade: full marks";  $PY -m course_tools.grade --expect full solutions/"$NN"_*.ipynb
echo "=== grade: zero";        $PY -m course_tools.grade --expect zero exercises/"$NN"_*.ipynb
echo "section $NN: every check passed"
