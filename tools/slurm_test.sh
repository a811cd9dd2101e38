#!/usr/bin/env bash
# Evaluation on a Slurm cluster (see tools/srun.sh for GPUS, GPUS_PER_NODE,
# CPUS_PER_TASK, SRUN_ARGS, PYTHON):
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]" >&2
    exit 2
fi
exec "$(dirname "$0")/srun.sh" "$1" "$2" test.py "$3" "$4" "${@:5}"
