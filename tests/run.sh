#!/usr/bin/env bash
# Every test, offline, on the tiny profile (what `make test` runs after setting up .venv): the unit tests
# and the graded notebooks (nbval), on two workers, a whole file each, the longest files first (tests/conftest.py;
# xdist would otherwise start the files with the most tests first).
# The tiny world is committed; a stale one fails first.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LAB_PROFILE=tiny OMP_NUM_THREADS=1
PY=.venv/bin/python
$PY -m lab_utils.tiny --check
exec $PY -m pytest notebooks/executed/tiny tests -n 2 --dist loadfile --no-loadscope-reorder \
  --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/executed/nbval_sanitize.cfg
