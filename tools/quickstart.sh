#!/usr/bin/env bash
# The main job on the embedded default: installs .venv/ on first use, draws the
# synthetic shapes dataset, trains SSD on it with tools/train.py (--amp: bf16
# where the CPU has it natively, fp32 elsewhere; progress and ETA every 20
# iterations), evaluates the checkpoint with tools/test.py (COCO AP table) and
# draws detections on the validation images.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/bootstrap.sh"
cd "$ROOT"
PY=.venv/bin/python
CONFIG=configs/quickstart/ssd160_shapes.py
WORK_DIR=work_dirs/quickstart
[ -f data/shapes/annotations/val.json ] || $PY tools/misc/make_shapes_dataset.py data/shapes
$PY tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --amp --channels-last
CHECKPOINT=$(cat "$WORK_DIR/last_checkpoint")
$PY tools/test.py "$CONFIG" "$CHECKPOINT" --work-dir "$WORK_DIR" --amp --channels-last \
    --show-dir detections --score-thr 0.5
echo "Detections drawn under $WORK_DIR/<timestamp>/detections/"
