#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun (see tools/torchrun.sh
# for NNODES, NODE_RANK, PORT, MASTER_ADDR, PYTHON):
#   tools/dist_train.sh CONFIG GPUS [train.py options]
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py options]" >&2
    exit 2
fi
exec "$(dirname "$0")/torchrun.sh" train.py "$2" "$1" --launcher pytorch "${@:3}"
