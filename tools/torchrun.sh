#!/usr/bin/env bash
# Runs tools/SCRIPT under torchrun; shared by dist_train.sh and dist_test.sh:
#   tools/torchrun.sh SCRIPT NPROC_PER_NODE [SCRIPT arguments]
# NPROC_PER_NODE is the number of GPUs per node; on a machine without GPUs they
# are CPU processes (gloo, see ssd_ext/engine/launch/runner.py).
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1),
# MAX_RESTARTS (0), RDZV_ID (ssd_ext), PYTHON (default: the repo's .venv/bin/python if there is one,
# else python).
# MAX_RESTARTS=N: when a process fails, torchrun stops the group and starts it
# again, up to N times; tools/train.py then resumes from the work dir's
# last_checkpoint (ssd_ext/engine/launch/restarts.py). The processes then meet
# through c10d rendezvous at MASTER_ADDR:PORT (ranks are assigned afresh at each
# start, NODE_RANK is not used), and each start's process group gets a new store
# (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1): in the store torchrun shares across
# starts, the first start's keys remain and a restarted rank can read a dead
# rank's address from them.
set -euo pipefail
SCRIPT=$1
NPROC=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then
    PYTHON="$ROOT/.venv/bin/python"
fi
MAX_RESTARTS=${MAX_RESTARTS:-0}
if ! [[ $MAX_RESTARTS =~ ^[0-9]+$ ]]; then
    echo "$0: MAX_RESTARTS=$MAX_RESTARTS is not a non-negative integer" >&2
    exit 2
fi
NNODES=${NNODES:-1}
if [ "$MAX_RESTARTS" -gt 0 ]; then
    export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1
    RENDEZVOUS=(--rdzv-backend=c10d --rdzv-endpoint="${MASTER_ADDR:-127.0.0.1}:${PORT:-29500}"
                --rdzv-id="${RDZV_ID:-ssd_ext}")
else
    RENDEZVOUS=(--node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}"
                --master_port="${PORT:-29500}")
fi

# torch.distributed.run is torchrun; running it as a module keeps it on the same
# python (and torch) as the script.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --nproc_per_node="$NPROC" \
    --max-restarts="$MAX_RESTARTS" \
    "${RENDEZVOUS[@]}" \
    "$ROOT/tools/$SCRIPT" "${@:3}"
