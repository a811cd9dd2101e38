#!/usr/bin/env bash
# Creates .venv/ with the pinned stack on first use; a no-op afterwards while
# setup.cfg and this script are unchanged (mmcv is never rebuilt needlessly).
#
#   bash tools/bootstrap.sh [--wheelhouse DIR]
#
#   --wheelhouse DIR  offline: install only from the wheels and sdists in DIR
#                     (no package index; README "GPU machines" says how to fill
#                     it), each without its declared dependencies: what the
#                     machine has stands in for them (opencv-python-headless for
#                     the opencv-python mmengine names), and an import check
#                     names anything missing. A new .venv sees the packages of
#                     the python3 that makes it (a venv's too), so a CUDA torch
#                     installed there is kept.
#   SSD_EXT_TORCH     torch requirement used when .venv has no torch
#                     (default torch==2.13.0, the CPU build on this project's machines).
#   SSD_EXT_EXTRAS    more extras of setup.cfg to install beside tests, comma
#                     separated (SSD_EXT_EXTRAS=deploy: OpenVINO and NNCF for
#                     tools/deployment/deploy.py; CI installs it). Part of the
#                     stamp: a run without it after one with it re-runs pip
#                     (seconds; nothing is uninstalled).
#   SSD_EXT_TORCHVISION  torchvision requirement installed (online only, no
#                     dependencies) into .venv/torchvision-reference, a folder on
#                     no path: the tests' reference for the torchvision zoo model
#                     (tests/ssd_testkit/torchvision_reference.py) puts it on
#                     sys.path inside the test only. Not in .venv itself: the
#                     index's CUDA builds do not load beside the CPU torch and an
#                     importable torchvision breaks every MMEngine Runner.
#                     Default torchvision==0.28.0 (pairs with torch 2.13.0),
#                     skipped (and its tests skip) for another torch unless
#                     SSD_EXT_TORCHVISION names the torchvision that pairs with it.
#   FORCE_CUDA=1      build mmcv's CUDA ops too (needs nvcc and a CUDA torch;
#                     TORCH_CUDA_ARCH_LIST=9.0 builds for one architecture only).
#
# Each step prints how long it took; mmcv's ops build is most of a first run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELHOUSE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE=$(cd "${2:?--wheelhouse needs a folder}" && pwd); shift 2 ;;
        *) echo "usage: bash tools/bootstrap.sh [--wheelhouse DIR]" >&2; exit 2 ;;
    esac
done
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.ssd_ext_installed"
# FORCE_CUDA is part of the stamp: asking for CUDA ops after a CPU-only
# install must reach the mmcv check below.
want=$( (cat "$ROOT/setup.cfg" "$ROOT/tools/bootstrap.sh"; echo "FORCE_CUDA=${FORCE_CUDA:-0}"
          echo "SSD_EXT_EXTRAS=${SSD_EXT_EXTRAS:-}"; echo "SSD_EXT_TORCHVISION=${SSD_EXT_TORCHVISION:-}") \
    | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
echo "[bootstrap] setting up $VENV (first run, or setup.cfg changed)"

index_args=()
venv_args=()
if [ -n "$WHEELHOUSE" ]; then
    index_args=(--no-index --find-links "$WHEELHOUSE" --no-deps)
    venv_args=(--system-site-packages)
    echo "[bootstrap] offline: installing from $WHEELHOUSE only"
fi
# ${a[@]+"${a[@]}"}: an empty array is "unbound" under set -u in bash < 4.4.
pip_install() { "$PY" -m pip install --disable-pip-version-check ${index_args[@]+"${index_args[@]}"} "$@"; }
timed() {  # timed LABEL COMMAND...: runs it, then prints LABEL and its seconds
    local label=$1 start=$SECONDS
    shift
    "$@"
    echo "[bootstrap] $label: $((SECONDS - start)) s"
}

if [ ! -x "$PY" ]; then
    timed "venv" "${PYTHON:-python3}" -m venv ${venv_args[@]+"${venv_args[@]}"} "$VENV"
    if [ -n "$WHEELHOUSE" ]; then
        # --system-site-packages reaches the base interpreter's packages only: a
        # python3 that is itself a venv (GPU images often are) would hide its
        # torch. A .pth adds every site folder it sees after .venv's own, with
        # site.addsitedir so that their own .pth files (editable installs) apply.
        "${PYTHON:-python3}" -c 'import sys; print("\n".join(
            f"import site; site.addsitedir({p!r})" for p in sys.path
            if p.endswith(("site-packages", "dist-packages"))))' \
            > "$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/_ssd_ext_base_site.pth"
    fi
fi
if [ -n "$WHEELHOUSE" ]; then
    # Every wheel of the folder (a torch among them only where .venv has none).
    wheels=()
    for wheel in "$WHEELHOUSE"/*.whl; do
        case "$(basename "$wheel")" in
            torch-*) "$PY" -c "import torch" 2>/dev/null && continue ;;
        esac
        [ -e "$wheel" ] && wheels+=("$wheel")
    done
    [ ${#wheels[@]} -eq 0 ] || timed "wheels" pip_install ${wheels[@]+"${wheels[@]}"}
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    if [ -n "$WHEELHOUSE" ] && ! ls "$WHEELHOUSE"/torch-* >/dev/null 2>&1; then
        echo "[bootstrap] no torch in $VENV and none in $WHEELHOUSE: install torch on this" \
             "machine first (a .venv made before may not see it: remove .venv)" >&2
        exit 1
    fi
    timed "torch" pip_install "${SSD_EXT_TORCH:-torch==2.13.0}"
fi
# mmcv 2.1.0's setup.py imports pkg_resources (gone in setuptools 81), so it is
# built without build isolation against the setuptools pinned here.
timed "setuptools" pip_install "setuptools==80.9.0"
mmcv_ready="import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"
if [ "${FORCE_CUDA:-0}" = 1 ]; then
    # CUDA ops compiled in = nvcc's device-code section in the extension.
    # (mmcv.ops.get_compiling_cuda_version() can crash, with torch 2.11 + CUDA 13
    # (docs/upstream.md), and needs no GPU to be wrong: this reads a file.)
    mmcv_ready="$mmcv_ready; import mmcv._ext as e; assert b'.nv_fatbin' in open(e.__file__, 'rb').read()"
fi
if ! "$PY" -c "$mmcv_ready" 2>/dev/null; then
    reinstall=()
    # An mmcv that is installed but whose ops fail to load was built against
    # another torch, or has no CUDA ops where FORCE_CUDA=1 asks for them:
    # rebuild it, bypassing the cached wheel.
    "$PY" -c "import mmcv" 2>/dev/null && reinstall=(--force-reinstall --no-deps --no-cache-dir)
    echo "[bootstrap] building mmcv 2.1.0 with its ops (5-10 minutes on 2 cores)"
    # -g0: Python's own CFLAGS ask for debug info, which for ~80 files that each
    # include all of torch's headers is a large share of the compile time.
    CFLAGS="${CFLAGS:-} -g0" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        timed "mmcv build" pip_install --no-build-isolation ${reinstall[@]+"${reinstall[@]}"} mmcv==2.1.0
fi
# --use-pep517: with setuptools and wheel importable and no pyproject.toml, pip
# would run the legacy `setup.py develop`, which setuptools 80 runs as a nested
# `pip install -e .` with build isolation: offline that fails to fetch setuptools
# (docs/upstream.md).
if [ -n "$WHEELHOUSE" ]; then
    [ -z "${SSD_EXT_EXTRAS:-}" ] || echo "[bootstrap] offline: SSD_EXT_EXTRAS=$SSD_EXT_EXTRAS" \
        "is not installed; put those packages' wheels in $WHEELHOUSE instead"
    timed "ssd_ext" pip_install --no-build-isolation --use-pep517 -e "$ROOT"
    # The test suite needs pytest (onnx/onnxruntime: their tests skip).
    "$PY" -c "import pytest" 2>/dev/null \
        || echo "[bootstrap] no pytest on this machine or in $WHEELHOUSE: the test suite needs it"
else
    timed "ssd_ext" pip_install --no-build-isolation --use-pep517 \
        -e "${ROOT}[tests${SSD_EXT_EXTRAS:+,$SSD_EXT_EXTRAS}]"
    if [ -n "${SSD_EXT_TORCHVISION:-}" ] \
            || "$PY" -c "import torch, sys; sys.exit(not torch.__version__.startswith('2.13.'))"; then
        timed "torchvision reference" pip_install --no-deps --upgrade \
            --target "$VENV/torchvision-reference" "${SSD_EXT_TORCHVISION:-torchvision==0.28.0}"
    else
        echo "[bootstrap] torchvision reference not installed: torchvision 0.28.0 pairs" \
             "with torch 2.13 only (its zoo tests skip)"
    fi
fi
# What ssd_ext and its tools import (offline, declared dependencies were not
# installed, so the check names each).
if ! "$PY" -c "import ssd_ext, mmdet.evaluation, mmcv.ops, pycocotools.coco, matplotlib, \
terminaltables, shapely, rich; from mmcv.ops import batched_nms"; then
    echo "[bootstrap] the stack does not import (the error above names what is missing;" \
         "offline, add its wheel to the wheelhouse)" >&2
    exit 1
fi
# torchvision must stay out of .venv's path (see SSD_EXT_TORCHVISION).
if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
    echo "[bootstrap] torchvision is importable in $VENV: MMEngine's Runner fails on its" \
         "unloadable ops; pip uninstall torchvision (the tests' copy lives in" \
         "$VENV/torchvision-reference)" >&2
    exit 1
fi
echo "$want" > "$STAMP"
echo "[bootstrap] done"
