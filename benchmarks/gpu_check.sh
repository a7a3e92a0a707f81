#!/usr/bin/env bash
# Every GPU check of issue 33 in one command, at most about 8 minutes on one GPU (benchmarks/gpu_check.py says
# what it runs); it prints one table. Without a GPU it prints one "no GPU" line and exits 0.
# On a machine with no package registry (the lent GPU machine), put the wheels its Python lacks in .whl/ first:
# docs/gpus.md lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "gpu_check: $PYTHON cannot import torch; run 'make install' (or set PYTHON to a Python that has it)" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no GPU: torch.cuda.is_available() is False here, so there is nothing to check; run this on a CUDA machine"
  exit 0
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
