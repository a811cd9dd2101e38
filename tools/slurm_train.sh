#!/usr/bin/env bash
# Training on a Slurm cluster (see tools/srun.sh for GPUS, GPUS_PER_NODE,
# CPUS_PER_TASK, SRUN_ARGS, PYTHON):
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Preemption: on SIGTERM or SIGUSR1 (e.g. SRUN_ARGS="--signal=USR1@180" before
# the time limit) training saves the iteration it is in and exits with 143
# (ssd_ext/engine/checkpoint/preemption.py). Inside a batch job (sbatch, which
# sets SLURM_JOB_ID) this script then requeues the job; the requeued job
# (SLURM_RESTART_COUNT > 0) runs this script again, which adds --resume.
# Outside a batch job it exits 143: rerun it with --resume.
set -euo pipefail
PREEMPTED_EXIT_CODE=143
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
RESUME=()
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
    RESUME=(--resume)  # last: a --resume CHECKPOINT of the first run yields to it
fi
# Slurm signals this shell too: keep it alive until srun returns.
trap 'echo "$0: signalled; waiting for training to save and exit" >&2' TERM USR1
status=0
"$(dirname "$0")/srun.sh" "$1" "$2" train.py "$3" --work-dir="$4" "${@:5}" ${RESUME[@]+"${RESUME[@]}"} \
    || status=$?
if [ "$status" -eq "$PREEMPTED_EXIT_CODE" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "$0: training was preempted (exit $status): requeueing job $SLURM_JOB_ID" >&2
    exec scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
