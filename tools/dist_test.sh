#!/usr/bin/env bash
# Distributed evaluation on one or more nodes with torchrun (see tools/torchrun.sh
# for NNODES, NODE_RANK, PORT, MASTER_ADDR, PYTHON):
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2
    exit 2
fi
exec "$(dirname "$0")/torchrun.sh" test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
