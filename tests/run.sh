#!/usr/bin/env bash
# Every test, offline, on the tiny profile (what `make test` runs after setting up .venv).
# The tiny world builds on one core (one torch thread) while the tests that do not need it run on the
# other; then the `world` tests (marked in tests/conftest.py) and the graded notebooks (nbval) run on two workers.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LAB_PROFILE=tiny OMP_NUM_THREADS=1
PY=.venv/bin/python
mkdir -p checkpoints

$PY -m lab_utils.tiny > checkpoints/tiny-build.log 2>&1 &
world=$!
$PY -m pytest tests -m "not world" -q
without_world=$?
wait "$world" || { cat checkpoints/tiny-build.log; echo "The tiny world did not build (log above)."; exit 1; }
cat checkpoints/tiny-build.log
$PY -m pytest tests notebooks/executed/tiny -m world -n 2 --dist loadfile \
  --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/executed/nbval_sanitize.cfg
with_world=$?
exit $(( without_world || with_world ))
