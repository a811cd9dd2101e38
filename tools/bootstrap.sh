#!/usr/bin/env bash
# Creates .venv/ with the pinned stack on first use; a no-op afterwards while
# setup.cfg and this script are unchanged (mmcv is never rebuilt needlessly).
#   SSD_EXT_TORCH  torch requirement used when .venv has no torch
#                  (default torch==2.13.0, the CPU build on this project's machines).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.ssd_ext_installed"
want=$(cat "$ROOT/setup.cfg" "$ROOT/tools/bootstrap.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
echo "[bootstrap] setting up $VENV (first run, or setup.cfg changed)"
[ -x "$PY" ] || "${PYTHON:-python3}" -m venv "$VENV"
pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }
"$PY" -c "import torch" 2>/dev/null || pip_install "${SSD_EXT_TORCH:-torch==2.13.0}"
# mmcv 2.1.0's setup.py imports pkg_resources (gone in setuptools 81), so it is
# built without build isolation against the setuptools pinned here.
pip_install "setuptools==80.9.0" wheel
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    reinstall=()
    # An mmcv that is installed but whose ops fail to load was built against
    # another torch: rebuild it, bypassing the cached wheel.
    "$PY" -c "import mmcv" 2>/dev/null && reinstall=(--force-reinstall --no-deps --no-cache-dir)
    echo "[bootstrap] building mmcv 2.1.0 with its ops (about 10 minutes on 2 cores)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        pip_install --no-build-isolation "${reinstall[@]}" mmcv==2.1.0
fi
pip_install --no-build-isolation -e "$ROOT[tests]"
"$PY" -c "import ssd_ext, mmdet, mmcv.ops; from mmcv.ops import batched_nms"
echo "$want" > "$STAMP"
echo "[bootstrap] done"
