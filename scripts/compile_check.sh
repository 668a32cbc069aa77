#!/usr/bin/env bash
# `make check`, lint stage: course_utils, course_tools and the notebook sources compile on Python 3.12 and 3.13
# (Colab runs 3.13; the course is developed on 3.11). Finds each interpreter on the PATH or
# through pyenv. One that is missing is reported and skipped, unless COURSE_REQUIRE_PYTHONS=1
# (CI sets it), which makes it an error.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
prefix=$(mktemp -d)  # keep the .pyc files out of the working tree
trap 'rm -rf "$prefix"' EXIT
for v in 3.12 3.13; do
  py=$(command -v "python$v" 2>/dev/null || true)
  if { [ -z "$py" ] || ! "$py" -c "" 2>/dev/null; } && command -v pyenv >/dev/null 2>&1; then
    # a pyenv shim fails unless that version is selected: call the version's own binary
    py=$(ls -d "$(pyenv root)"/versions/"$v"*/bin/python"$v" 2>/dev/null | tail -n 1)
  fi
  if [ -z "$py" ] || ! "$py" -c "" 2>/dev/null; then
    if [ "${COURSE_REQUIRE_PYTHONS:-0}" = 1 ]; then
      echo "python$v: not found (install it, e.g. with pyenv)"; status=1
    else
      echo "python$v: not found, skipped (set COURSE_REQUIRE_PYTHONS=1 to make this an error)"
    fi
    continue
  fi
  if PYTHONPYCACHEPREFIX="$prefix/$v" "$py" -m compileall -q -f course_utils course_tools notebooks scripts >/dev/null; then
    echo "$("$py" --version): course_utils, course_tools, notebooks and scripts compile"
  else
    PYTHONPYCACHEPREFIX="$prefix/$v" "$py" -m compileall -q -f course_utils course_tools notebooks scripts
    status=1
  fi
done
exit $status
