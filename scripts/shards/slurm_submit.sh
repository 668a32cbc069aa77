#!/bin/bash
# Grade a class on a Slurm cluster: a job array of N shards, then the merge once every shard succeeded.
#
#   scripts/shards/slurm_submit.sh SUBMISSIONS [GRADES [N [SECTION]]]
#
# Arguments win over the environment variables of the same name (SUBMISSIONS, GRADES, NSHARDS, SECTION);
# defaults: GRADES=grades, N=4, no SECTION. Also read from the environment:
#   SHARDS_DIR     where the shards write (default: <GRADES>-shards); Slurm's logs go to <SHARDS_DIR>/logs
#   CPUS_PER_TASK  cores per shard (default: the script's #SBATCH line), TIME its time limit (e.g. 01:00:00)
#   SBATCH_ARGS    more sbatch options for both jobs, split on spaces (e.g. "--partition=short --account=ml")
#   ROSTER, GRADE_ARGS, COURSE, PY, COURSE_GRADING_SECRET: see slurm_grade.sbatch
# Run it from anywhere: the jobs run in this course checkout (COURSE, default: the one this script is in).
# Prints the two job ids, as "array=<id>" and "merge=<id>".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

SUBMISSIONS=${1:-${SUBMISSIONS:-}}
GRADES=${2:-${GRADES:-grades}}
NSHARDS=${3:-${NSHARDS:-4}}
SECTION=${4:-${SECTION:-}}
if [ -z "$SUBMISSIONS" ]; then
  echo "usage: $0 SUBMISSIONS [GRADES [N [SECTION]]]   (or set SUBMISSIONS, GRADES, NSHARDS, SECTION)" >&2
  exit 2
fi
case "$NSHARDS" in '' | *[!0-9]* | 0) echo "$0: N must be a positive number of shards, got '$NSHARDS'" >&2; exit 2 ;; esac
[ -e "$SUBMISSIONS" ] || { echo "$0: $SUBMISSIONS does not exist" >&2; exit 2; }

# The jobs may start in another folder: hand them absolute paths.
SUBMISSIONS=$(absolute "$SUBMISSIONS")
GRADES=$(absolute "$GRADES")
SHARDS_DIR=$(absolute "${SHARDS_DIR:-$GRADES-shards}")
COURSE=$(absolute "${COURSE:-$(cd "$here/../.." && pwd)}")
[ -n "${ROSTER:-}" ] && ROSTER=$(absolute "$ROSTER")
export SUBMISSIONS GRADES NSHARDS SECTION SHARDS_DIR COURSE ROSTER
mkdir -p "$SHARDS_DIR/logs"  # Slurm does not make the folder of --output

# shellcheck disable=SC2206  # SBATCH_ARGS is split on spaces on purpose
extra=(${SBATCH_ARGS:-})
job_id() { sed -n 's/^Submitted batch job \([0-9][0-9]*\).*/\1/p'; }

array=$(sbatch "${extra[@]}" --array="1-$NSHARDS" ${CPUS_PER_TASK:+--cpus-per-task="$CPUS_PER_TASK"} \
  ${TIME:+--time="$TIME"} --chdir="$COURSE" --output="$SHARDS_DIR/logs/grade-shard-%A_%a.out" \
  "$here/slurm_grade.sbatch" | job_id)
[ -n "$array" ] || { echo "$0: sbatch did not say the array's job id" >&2; exit 1; }
merge=$(sbatch "${extra[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes --chdir="$COURSE" \
  --output="$SHARDS_DIR/logs/grade-merge-%j.out" "$here/slurm_merge.sbatch" | job_id)
[ -n "$merge" ] || { echo "$0: sbatch did not say the merge's job id (the array $array is queued)" >&2; exit 1; }

echo "array=$array"
echo "merge=$merge"
echo "grading $SUBMISSIONS in $NSHARDS shards (job $array), then merging into $GRADES (job $merge);" \
  "logs: $SHARDS_DIR/logs/. Follow with: squeue -j $array,$merge" >&2
