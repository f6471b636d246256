#!/usr/bin/env bash
# The ML-1M comparison of issue 10: SASRec, the four hybrids, the no-graph control (HybridDiscrete with
# gnn_layers 0), HybridResidual (the graph as a gated residual, the redesign tried after the first runs) and
# HybridResidual-fused (the same, scoring against its fused table), seeds 2020-2022, the frozen literature recipe
# (sequence mode, CE, length 200, dropout 0.2), on the seed protocol. Two stages: the six labels of the issue's table
# (SASRec, the four hybrids, the control) and the current redesign HybridResidual-fused, seed 2020 first and then 2021
# and 2022; then, over the same seeds, the control of HybridResidual-fused (HybridResidual-fused-nograph: gnn_layers
# 0, is its gain the graph's?) and HybridResidual (the redesign it superseded).
#
#   nohup scripts/run_literature_grid.sh > saved/literature-grid.log 2>&1 &
#
# Resumable: a finished run (record + ranks in results/runs) is skipped and an interrupted one continues from its
# last.pth, so rerun the same command after an interruption. Environment: DATA_PATH (folder holding ml-1m/;
# default dataset; ../shared/data on this project's machines), SEEDS (default 3), THREADS (torch threads; default 1, leaving a core free), PYTHON,
# MODELS (the first stage's labels, comma-separated; default those seven), LATER (the second stage's; default
# HybridResidual-fused-nograph,HybridResidual; empty: none), RECIPE (the preset and its frozen file
# configs/ml-1m/2026-11-27-<RECIPE>.yaml: literature, the default, or literature-target). Two processes share two cores: each run folder has a lock
# (recbole_hybrid/utils/runlock.py), so a second process leaves a run in progress to the first and trains the next one:
#   nohup scripts/run_literature_grid.sh > saved/grid-b.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DATA_PATH=${DATA_PATH:-dataset}
export OMP_NUM_THREADS=${THREADS:-1}
MODELS=${MODELS:-SASRec,HybridResidual-fused,HybridFixed,HybridDiscrete,HybridLearnable,HybridContinuous,HybridDiscrete-nograph}
LATER=${LATER-HybridResidual-fused-nograph,HybridResidual}
RECIPE=${RECIPE:-literature}

"$PYTHON" -m recbole_hybrid data check --dataset=ml-1m --data_path="$DATA_PATH" --expect_users=6034
for labels in "$MODELS" ${LATER:+"$LATER"}; do
    "$PYTHON" -m recbole_hybrid experiments "$RECIPE" --dataset=ml-1m --data_path="$DATA_PATH" \
        --config_files="configs/ml-1m/2026-11-27-$RECIPE.yaml" --seeds="${SEEDS:-3}" --models="$labels" "$@"
done
