#!/usr/bin/env bash
# Sets up .venv for lradvisor: scripts/setup.sh [EXTRAS]   (e.g. scripts/setup.sh test)
# The venv sees the system's site-packages, so a torch you already have is kept as it is.
# Without one, torch 2.13.0 is installed first: on this machine kind pip takes a CPU build
# from local disk; elsewhere install the torch build you want before running this script.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv --system-site-packages .venv
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "torch==2.13.0"
fi
extras=${1:-}
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install -q -e "$spec"
