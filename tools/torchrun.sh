#!/usr/bin/env bash
# Runs tools/SCRIPT under torchrun; shared by dist_train.sh and dist_test.sh:
#   tools/torchrun.sh SCRIPT NPROC_PER_NODE [SCRIPT arguments]
# NPROC_PER_NODE is the number of GPUs per node; on a machine without GPUs they
# are CPU processes (gloo, see ssd_ext/engine/launch/runner.py).
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1),
# PYTHON (default: the repo's .venv/bin/python if there is one, else python).
set -euo pipefail
SCRIPT=$1
NPROC=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then
    PYTHON="$ROOT/.venv/bin/python"
fi

# torch.distributed.run is torchrun; running it as a module keeps it on the same
# python (and torch) as the script.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$NPROC" \
    --master_port="${PORT:-29500}" \
    "$ROOT/tools/$SCRIPT" "${@:3}"
