#!/usr/bin/env bash
# The comparison workflow end to end on CPU in a few minutes: `pipeline` preset (2 epochs), 3 seeds, SASRec and
# the hybrids, on a small part of ml-100k with tiny models (configs/ml-100k/2026-11-27-demo.yaml). Writes
# results/ml-100k-demo/ (runs/ with records, per-user ranks and a(L); CSVs, plots, README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=results/ml-100k-demo
python -m recbole_hybrid experiments pipeline --dataset=ml-100k --seeds=3 \
    --config_files=configs/ml-100k/2026-11-27-demo.yaml --use_gpu=False \
    --results_dir=$OUT/runs --checkpoint_dir=saved/ml-100k-demo --graph_cache_dir=saved/graph_cache
python -m recbole_hybrid experiments analyze --dataset=ml-100k --preset=pipeline --runs_dir=$OUT/runs \
    --out_dir=$OUT --save_csv
