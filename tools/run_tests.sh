#!/usr/bin/env bash
# The whole test suite: installs .venv/ on first use, then runs pytest.
# Extra arguments go to pytest (e.g. tools/run_tests.sh -k priors).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/bootstrap.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest "$@"
