#!/usr/bin/env bash
# `make check-section S=NN`: everything of one section, in a minute or two: lint (the whole tree: it is fast),
# the section's test folder (tests/sNN_slug/, unit and integration) and the cases of its exercises in the
# generic tests, its two notebooks under nbval, and grading both ways.
set -euo pipefail
cd "$(dirname "$0")/.."
NN=$1
PY=.venv/bin/python
export MPLBACKEND=Agg PYTHONHASHSEED=0
shopt -s nullglob
folders=(tests/s"$NN"_*/)
notebooks=(solutions/"$NN"_*.ipynb exercises/"$NN"_*.ipynb)
[ ${#notebooks[@]} -gt 0 ] || { echo "no notebooks for section $NN: run make notebooks S=$NN first" >&2; exit 2; }
[ ${#folders[@]} -gt 0 ] || { echo "no test folder tests/s${NN}_*/ for section $NN" >&2; exit 2; }
echo "=== lint";                 $PY -m ruff check course_utils course_tools tests notebooks scripts conftest.py
                                  .venv/bin/lint-imports --no-cache
echo "=== notebooks up to date"; $PY -m course_tools.build --check
echo "=== syllabus table";       $PY -m course_tools.syllabus --check
echo "=== tests: ${folders[*]} and section $NN's exercises in tests/grading"
$PY -m pytest -q -p no:randomly -n 2 -m "not browser" --section "$NN" "${folders[@]}" tests/grading
echo "=== nbval";                $PY -m pytest -q -p no:randomly --nbval-lax --nbval-current-env \
                                   --nbval-kernel-startup-timeout=300 "${notebooks[@]}"
echo "=== grade: full marks";    $PY -m course_tools.grade --expect full solutions/"$NN"_*.ipynb
echo "=== grade: zero";          $PY -m course_tools.grade --expect zero exercises/"$NN"_*.ipynb
echo "section $NN: every check passed"
