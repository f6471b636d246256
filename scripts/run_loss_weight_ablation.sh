#!/usr/bin/env bash
# Does the step weighting of sequence mode change quality? SASRec, the frozen literature recipe, seed 2020, with
# sequence_loss_weight: target (every training target weighs the same, as in prefix rows) instead of the recipe's
# batch (each step's own mean: under length batching, windows of <= 30 targets carry 30% of the gradient instead
# of 7%). The other arm is the grid's committed record results/runs/SASRec-ml-1m-literature-fs-seed2020.json: same
# seed, same code path, the key its only difference.
#
#   nohup scripts/run_loss_weight_ablation.sh > saved/ablation-loss-weight.log 2>&1 &
#
# Resumable like the grid (rerun the same command). Records go to results/ablations/sequence-loss-weight/.
# Environment: DATA_PATH (default ../shared/data), THREADS (default 1), PYTHON, RESULTS (default that folder).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DATA_PATH=${DATA_PATH:-../shared/data}
export OMP_NUM_THREADS=${THREADS:-1}

"$PYTHON" -m recbole_hybrid.experiments literature --dataset=ml-1m --data_path="$DATA_PATH" \
    --config_files=configs/ml-1m/2026-11-27-literature.yaml --seeds=1 --models="${MODELS:-SASRec}" \
    --sequence_loss_weight=target --results_dir="${RESULTS:-results/ablations/sequence-loss-weight}" \
    --checkpoint_dir=saved/ablation-sequence-loss-weight "$@"
