#!/usr/bin/env bash
# Issue 14's GPU measurements, prepared to run in one call on a borrowed, offline
# GPU machine (H100/H200, Python 3.12 with a CUDA torch system-wide, 600 s a call).
#
#   bash tools/gpu_check.sh OUT_DIR [WHEELHOUSE]
#
# Stages, in priority order, so that a call cut short keeps the most important:
#   1 machine.txt   2 install: the README's offline GPU install (tools/bootstrap.sh
#   --wheelhouse, FORCE_CUDA=1), with CPU-only mmcv ops if that fails
#   3 pytest -m cuda   4 benchmark.py: SSD300/SSD512 inference at batch 64 and
#   training at 32, fp32/fp16/bf16, channels_last, SSD300 training at 128
#   5 tools/train.py --amp, 300 iterations at batch 32 on BCCD (real images)
#   6 tools/test.py --compile on its checkpoint
# Each stage logs to OUT_DIR/NAME.log; its exit code and seconds go to
# OUT_DIR/summary.txt when it ends (printed at the end). A stage that succeeded is
# skipped by the next run with the same OUT_DIR; one that failed or was stopped by
# a limit is retried (a failed CUDA build of mmcv is not: its fallback is kept).
#
#   GPU_CHECK_BUDGET=560         seconds after which no stage starts and a running
#                                one is stopped, so the call ends before its 600 s
#   GPU_CHECK_BUILD_TIMEOUT=420  seconds for mmcv's CUDA ops build; after that
#                                mmcv is built with CPU-only ops so 3-6 still run
#   GPU_CHECK_DEVICE=cpu         exists only to rehearse this script on a CPU
#                                machine: tiny sizes, bootstrap as it is here
#   SSD_EXT_SHARED_DATA          folder holding bccd/ and tiny_coco/ (default ../shared/data,
#                                else .gpu_data)
#
# Prepare on a connected machine, in the repository root (folders git ignores):
#   printf '.wheelhouse/\n.gpu_data/\n' >> .git/info/exclude
#   mkdir -p .wheelhouse .gpu_data && cp ../shared/wheelhouse/* .wheelhouse/
#   cp -r ../shared/data/bccd ../shared/data/tiny_coco .gpu_data/   # ../shared does not travel
# The GPU image has pytest and its plugins: a pytest wheel in .wheelhouse would be
# installed over it (--no-deps) and could break those plugins, so add one only for
# a machine without pytest (pip download ... pytest iniconfig pluggy pygments).
# Device call (carry .wheelhouse and .gpu_data; at most 8 files come back from $OUT):
#   timeout 590 bash tools/gpu_check.sh work_dirs/gpu_check .wheelhouse;
#   tar czf $OUT/gpu_check.tgz --exclude='*.pth' --exclude='*.whl' work_dirs/gpu_check;
#   cp work_dirs/gpu_check/*.whl $OUT/
# The mmcv wheel that comes back (built with CUDA ops), put in .wheelhouse, spares
# a fresh machine the build.
set -u
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: bash tools/gpu_check.sh OUT_DIR [WHEELHOUSE]" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1/.done" && OUT=$(cd "$1" && pwd) || exit 2
WH=""
if [ $# -eq 2 ]; then WH=$(cd "$2" && pwd) || exit 2; fi
MODE=${GPU_CHECK_DEVICE:-cuda}
BUDGET=${GPU_CHECK_BUDGET:-560}
BUILD_TIMEOUT=${GPU_CHECK_BUILD_TIMEOUT:-420}
PY=$ROOT/.venv/bin/python
DATA=${SSD_EXT_SHARED_DATA:-$ROOT/../shared/data}
[ -d "$DATA/bccd" ] || DATA=$ROOT/.gpu_data
DATA=$(cd "$DATA" 2>/dev/null && pwd) || DATA=$ROOT/.gpu_data
# The paper's SSD300 widths: the test config quarters them for CPU tests, and the
# Runner's img/s should be the real network's.
WIDTHS='model.backbone.widen_factor=1.0 model.neck.in_channels=(512,1024)
  model.neck.out_channels=(512,1024,512,256,256,256)
  model.bbox_head.in_channels=(512,1024,512,256,256,256)'
RUNNER_CONFIG=tests/configs/ssd300_voc0712_bccd.py
if [ "$MODE" = cpu ]; then
    SYS_PY=$PY BENCH_ARGS='--device cpu --iters 1 --warmup 0' B_INFER=2 B_TRAIN=2 B_BIG=2
    PEAK_FP32='' PEAK_AMP=''
    ITERS=4 LOG_EVERY=2 B_RUNNER=2
else
    # MFU against the H100/H200 SXM dense peaks of the data sheet: fp16/bf16 989
    # TFLOP/s (a bf16 matrix product measured about 790 on this workplace's H200),
    # TF32 494 for fp32 (cuDNN runs fp32 convolutions as TF32 by default).
    SYS_PY=python3 BENCH_ARGS='--device cuda --iters 10 --warmup 3'
    PEAK_FP32=494 PEAK_AMP=989
    B_INFER=64 B_TRAIN=32 B_BIG=128
    ITERS=300 LOG_EVERY=50 B_RUNNER=32
    # Where CUDA images keep nvcc, if it is not on PATH (torch's build finds CUDA from it).
    if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
        export PATH=/usr/local/cuda/bin:$PATH
    fi
fi
export ROOT OUT WH MODE PY DATA BUILD_TIMEOUT WIDTHS RUNNER_CONFIG SYS_PY BENCH_ARGS \
    PEAK_FP32 PEAK_AMP \
    ITERS LOG_EVERY B_RUNNER SSD_EXT_SHARED_DATA=$DATA PYTHONUNBUFFERED=1
cd "$ROOT" || exit 2

note() {  # note TEXT: goes into this stage's line of the summary
    echo "[gpu_check] $*"
    echo "$*" >> "$NOTE"
}

s_machine() {
    {
        nvidia-smi || echo "nvidia-smi: exit $?"
        "$SYS_PY" -c 'import sys, torch
print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
      torch.backends.cudnn.version(), "GPU",
      torch.cuda.get_device_name() if torch.cuda.is_available() else "none")'
        nvcc --version || echo "no nvcc on PATH"
        echo "nproc: $(nproc)"
        lscpu | head -n 20
    } > "$OUT/machine.txt" 2>&1
    cat "$OUT/machine.txt"
    note "$(grep '^torch ' "$OUT/machine.txt")"
    grep -q '^torch ' "$OUT/machine.txt"
}

ops_cuda() {  # "yes" when mmcv's ops hold CUDA kernels (as tools/bootstrap.sh checks)
    "$PY" -c 'import mmcv._ext as e
print("yes" if b".nv_fatbin" in open(e.__file__, "rb").read() else "no")' 2>/dev/null
}

s_install() {
    local rc cache
    if [ "$MODE" = cpu ]; then
        bash tools/bootstrap.sh ${WH:+--wheelhouse "$WH"}
        return
    fi
    # The README's command, for this GPU's architecture only (e.g. 9.0).
    TORCH_CUDA_ARCH_LIST=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)
    MAX_JOBS=$(nproc)
    export TORCH_CUDA_ARCH_LIST MAX_JOBS
    touch "$OUT/.install_start"
    echo "## FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS" \
         "bash tools/bootstrap.sh --wheelhouse $WH"
    rc=1
    if [ -f "$OUT/.cuda_build_failed" ]; then
        note "CUDA build of mmcv failed in an earlier run: not tried again"
    else
        FORCE_CUDA=1 timeout -k 10 "$BUILD_TIMEOUT" bash tools/bootstrap.sh ${WH:+--wheelhouse "$WH"}
        rc=$?
        note "bootstrap (README) exit $rc: $(grep -o '\[bootstrap\] [^:]*: [0-9]* s' "$LOG" \
            | sed 's/\[bootstrap\] //' | paste -sd, -)"
        [ $rc -eq 0 ] || touch "$OUT/.cuda_build_failed"
    fi
    if [ $rc -ne 0 ]; then
        # So that stages 3-6 still run: mmcv builds CUDA ops when FORCE_CUDA=1
        # or torch sees a GPU, so both are taken away for this build.
        note "mmcv: CPU-only ops (the CUDA build failed or ran out of time)"
        CUDA_VISIBLE_DEVICES='' FORCE_CUDA=0 bash tools/bootstrap.sh ${WH:+--wheelhouse "$WH"} \
            || return
    fi
    note "mmcv ops CUDA: $(ops_cuda)"
    # Keep a wheel built with CUDA ops, for a fresh machine's .wheelhouse.
    if [ "$(ops_cuda)" = yes ] && cache=$("$PY" -m pip cache dir 2>/dev/null); then
        find "$cache" -name 'mmcv-2.1.0-*.whl' -newer "$OUT/.install_start" -exec cp {} "$OUT/" \;
    fi
    "$PY" -c 'import ssd_ext, mmdet, mmcv.ops, pytest'
}

s_pytest() {
    "$PY" -m pytest -m cuda -rs tests/integration/test_cuda.py -q
    local rc=$?
    note "$(tail -n 1 "$LOG")"
    return $rc
}

s_bench() {  # s_bench CONFIG PART BATCH PEAK [FLAGS]: one benchmark.py run
    local config=$1 part=$2 batch=$3 peak=$4
    shift 4
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
    "$PY" tools/analysis/benchmark.py "$config" --parts "$part" --batch "$batch" \
        --channels-last $BENCH_ARGS ${peak:+--peak-tflops "$peak"} "$@" || return
    note "$(awk -v p="$part" '$1 == p && $2 ~ /^[0-9.]+$/ {
        print p, "ssd_ext", $2, "mmdet", $3, $4, $5}' "$LOG")"
    [ "$part" = infer ] || note "$(grep '^train ssd_ext:' "$LOG")"
}

s_runner() {
    local voc=$OUT/voc/data/VOCdevkit bccd=$DATA/bccd
    # The VOC layout the config reads from the working folder (as
    # tests/integration/test_voc_end_to_end.py makes it): VOC2007 is BCCD, VOC2012's
    # trainval is BCCD's val split.
    rm -rf "$OUT/voc" "$OUT/runner"
    mkdir -p "$voc/VOC2012/ImageSets/Main" || return
    ln -s "$bccd" "$voc/VOC2007" && ln -s "$bccd/Annotations" "$bccd/JPEGImages" "$voc/VOC2012/" \
        && cp "$bccd/ImageSets/Main/val.txt" "$voc/VOC2012/ImageSets/Main/trainval.txt" || return
    # One validation and one checkpoint, at the end; the logged time and
    # data_time are means over LOG_EVERY iterations. Workers as the base configs
    # size them ('auto'; the test config has none), so data_time is the product's.
    # shellcheck disable=SC2086  # WIDTHS is a list of words
    (cd "$OUT/voc" && "$PY" "$ROOT/tools/train.py" "$ROOT/$RUNNER_CONFIG" --amp \
        --work-dir "$OUT/runner" --cfg-options $WIDTHS \
        train_cfg.max_iters="$ITERS" train_cfg.val_interval="$ITERS" \
        default_hooks.checkpoint.interval="$ITERS" default_hooks.logger.interval="$LOG_EVERY" \
        log_processor.window_size="$LOG_EVERY" train_dataloader.batch_size="$B_RUNNER" \
        train_dataloader.num_workers=auto train_dataloader.persistent_workers=True \
        val_dataloader.batch_size=8 val_dataloader.num_workers=auto) || return
    cp "$OUT"/runner/*/*.log "$OUT/runner.log"
    cp "$OUT"/runner/*/vis_data/scalars.json "$OUT/runner_scalars.json"
    note "$("$PY" - "$OUT/runner_scalars.json" "$B_RUNNER" <<'EOF'
import json, sys
train = [r for r in map(json.loads, open(sys.argv[1])) if 'lr' in r]
r = train[-1]
print(f"iter {r['iter']}: {int(sys.argv[2]) / r['time']:.0f} img/s, data_time "
      f"{r['data_time']:.3f} s of {r['time']:.3f} s ({100 * r['data_time'] / r['time']:.0f}%), "
      f"loss {r['loss']:.3f}")
EOF
)"
}

s_test() {
    local ckpt
    ckpt=$(cat "$OUT/runner/last_checkpoint" 2>/dev/null) || { echo "no checkpoint from stage 5"; return 1; }
    # shellcheck disable=SC2086  # WIDTHS is a list of words
    (cd "$OUT/voc" && "$PY" "$ROOT/tools/test.py" "$ROOT/$RUNNER_CONFIG" "$ckpt" --compile \
        --work-dir "$OUT/test" --cfg-options $WIDTHS \
        test_dataloader.batch_size=8 test_dataloader.num_workers=auto) || return
    note "$(grep -o '"pascal_voc/mAP": [0-9.]*' "$OUT/test/metrics.json")"
}
export -f note s_machine ops_cuda s_install s_pytest s_bench s_runner s_test

record() {  # record NAME EXIT SECONDS NOTE: the stage's line, kept as soon as it ends
    printf '%-24s exit %-3s %4s s  %s\n' "$1" "$2" "$3" "$4" | tee -a "$OUT/summary.txt"
}
stage() {  # stage NAME LIMIT FUNCTION [ARGS]: runs it within LIMIT and the budget left
    local name=$1 limit=$2 left=$((BUDGET - SECONDS)) start=$SECONDS rc text
    shift 2
    if [ -f "$OUT/.done/$name" ]; then
        record "$name" - - "done earlier: $(cat "$OUT/.done/$name")"
        return
    fi
    if [ "$left" -lt 30 ]; then
        record "$name" - - "not started: GPU_CHECK_BUDGET=$BUDGET s spent, run again"
        return
    fi
    [ "$limit" -lt "$left" ] || limit=$left
    echo "=== $(date +%T) stage $name (at most $limit s)"
    export LOG=$OUT/$name.log NOTE=$OUT/.note
    : > "$NOTE"
    timeout -k 10 "$limit" bash -c 'set -u; "$@"' _ "$@" > "$LOG" 2>&1
    rc=$?
    text=$(paste -sd';' "$NOTE")
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        text="stopped at $limit s, run again${text:+; $text}"
    elif [ $rc -eq 0 ]; then
        echo "exit 0, $((SECONDS - start)) s${text:+; $text}" > "$OUT/.done/$name"
    fi
    record "$name" "$rc" "$((SECONDS - start))" "$text"
    [ $rc -eq 0 ] || tail -n 15 "$LOG" | sed 's/^/    | /'
}

echo "# $(date '+%F %T') mode=$MODE budget=${BUDGET}s data=$DATA wheelhouse=${WH:-none}" \
    >> "$OUT/summary.txt"
stage 1-machine 60 s_machine
stage 2-install "$BUDGET" s_install
stage 3-pytest-cuda 240 s_pytest
for size in 300 512; do
    for part in infer train; do
        batch=$B_INFER
        [ $part = train ] && batch=$B_TRAIN
        stage "4-ssd$size-$part-fp32" 120 s_bench "configs/ssd$size.py" $part "$batch" \
            "$PEAK_FP32"
        stage "4-ssd$size-$part-fp16" 120 s_bench "configs/ssd$size.py" $part "$batch" \
            "$PEAK_AMP" --amp --amp-dtype float16
        stage "4-ssd$size-$part-bf16" 120 s_bench "configs/ssd$size.py" $part "$batch" \
            "$PEAK_AMP" --amp --amp-dtype bfloat16
    done
    # The issue's batch-128 training target is SSD300's: before SSD512.
    [ $size = 300 ] && stage 4-ssd300-train-b128-fp16 120 s_bench configs/ssd300.py train "$B_BIG" \
        "$PEAK_AMP" --amp --amp-dtype float16
done
stage 5-runner "$BUDGET" s_runner
stage 6-test-compile 300 s_test

echo "=== summary ($OUT/summary.txt; logs beside it)"
cat "$OUT/summary.txt"
