#!/usr/bin/env bash
# The comparison of SASRec and the hybrids on ML-1M (seed protocol), then its analysis.
#
#   scripts/run_paper_experiments.sh [--key=value ...]        # extra flags go to every run
#
# Environment: PRESET (paper | quick | pipeline; default paper), SEEDS (default 3), DATASET (default ml-1m),
# DATA_PATH (folder holding <dataset>/<dataset>.inter; default dataset), CONFIG (frozen config file; default
# configs/<dataset>/2026-11-27.yaml), EXPECT_USERS (default 6034 for ml-1m).
# Resumable: a run whose record exists under results/runs is skipped, so rerun the same command after an
# interruption. Results: results/runs/ (records, per-user ranks, a(L)), results/*.csv, *.png, README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-paper}
SEEDS=${SEEDS:-3}
DATASET=${DATASET:-ml-1m}
DATA_PATH=${DATA_PATH:-dataset}
CONFIG=${CONFIG:-configs/$DATASET/2026-11-27.yaml}
if [[ $DATASET == ml-1m ]]; then EXPECT_USERS=${EXPECT_USERS:-6034}; fi

python -m recbole_hybrid data check --dataset="$DATASET" --data_path="$DATA_PATH" \
    ${EXPECT_USERS:+--expect_users=$EXPECT_USERS}
python -m recbole_hybrid experiments "$PRESET" --dataset="$DATASET" --seeds="$SEEDS" --data_path="$DATA_PATH" \
    --config_files="$CONFIG" "$@"
python -m recbole_hybrid experiments analyze --dataset="$DATASET" --preset="$PRESET" --save_csv
