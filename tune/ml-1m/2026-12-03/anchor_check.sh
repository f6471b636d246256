#!/usr/bin/env bash
# Step 5 of the ML-1M study of 2026-12-03 (README.md beside this file), its anchor check: each frozen tuned recipe
# (configs/tuned/<Class>-ml-1m.yaml, written by retrain.sh) trained once (seed 2020) on the literature's file
# ml-1m-sasrec, whose published numbers (SASRec+ 0.1821, HSTU-large 0.1893 test NDCG@10) the analysis puts beside
# it. As in retrain.sh, the CE runs in float32 (--ce_bf16=False) on every machine. A label whose recipe is not frozen
# yet is skipped with a line saying so; a done run is skipped and an interrupted one resumes: run it again after a
# stop.
#
#   DATA_PATH=../shared/data tune/ml-1m/2026-12-03/anchor_check.sh
#   nohup env DATA_PATH=../shared/data ANCHOR_MODELS="SASRec best" \
#       tune/ml-1m/2026-12-03/anchor_check.sh >> anchors.log 2>&1 &      # in the background
#
# Environment:
#   DATA_PATH          required: the folder that holds ml-1m-sasrec/, relative to where you start it
#   ANCHOR_MODELS      the labels, in order (default: SASRec); `best` is the best tuned hybrid, named from the
#                      retrained records in RESULTS_DIR (ml-1m, validation only) once they have all landed
#   RESULTS_DIR        where the records go (default: the checkout's results/runs)
#   CHECKPOINT_DIR     checkpoints, outside the work tree (default: $HOME/recbole-hybrid-state/saved)
#   TUNED_CONFIGS      the frozen recipes (default: the checkout's configs/tuned)
#   ANCHOR_DRY_RUN=1   print each run's command line instead of running it
#   PYTHON             the interpreter (default: the checkout's .venv/bin/python where it exists, else python)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
: "${DATA_PATH:?set DATA_PATH to the folder that holds ml-1m-sasrec/ (e.g. DATA_PATH=../shared/data)}"
data="$(cd "$DATA_PATH" && pwd)"
results="$(realpath -m "${RESULTS_DIR:-$root/results/runs}")"
checkpoints="$(realpath -m "${CHECKPOINT_DIR:-$HOME/recbole-hybrid-state/saved}")"
configs="$(realpath -m "${TUNED_CONFIGS:-$root/configs/tuned}")"
python="$(study_python "$root")"
cd "$root"

for label in ${ANCHOR_MODELS:-SASRec}; do
    label="$(study_label "$label" "$python" "$results")"
    model="$(study_model "$label" ANCHOR_MODELS)"
    frozen="$configs/$model-ml-1m.yaml"
    if [ ! -f "$frozen" ]; then
        echo "$label: no frozen recipe yet ($frozen missing: retrain.sh writes it when its search ends), skipped"
        continue
    fi
    command=("$python" -m recbole_hybrid experiments tuned --dataset=ml-1m-sasrec --data_path="$data"
             --config_files="${frozen#"$root"/}" --models="$label" --seeds=1 --ce_bf16=False
             --results_dir="$results" --checkpoint_dir="$checkpoints")
    study_run "${ANCHOR_DRY_RUN:-0}" "$label: training seed 2020 on ml-1m-sasrec into $results" "${command[@]}"
done
