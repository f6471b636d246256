#!/bin/bash
# usage: run.sh TREE OUT  -- one fixed-seed ml-100k run per model family, same flags, from the given checkout
set -e
cd "$1"  # the checkout: before = a worktree at addeae1, after = the restructured main
for model in SASRec HybridDiscrete HybridContinuous; do
OMP_NUM_THREADS=1 ${PYTHON:-python} run.py --model=$model --dataset=ml-100k --seed=2020 --epochs=2 \
  --MAX_ITEM_LIST_LENGTH=50 --hidden_size=32 --inner_size=64 --n_layers=1 --n_heads=2 --L_short=5 --L_long=15 \
  --eval_history_caps=[1,5] --checkpoint_dir=$2/saved --results_dir=$2/runs --graph_cache_dir=$2/graph --show_progress=False
done
