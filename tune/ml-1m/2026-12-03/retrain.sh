#!/usr/bin/env bash
# Step 5 of the ML-1M study of 2026-12-03 (README.md beside this file): each model whose search has finished is
# frozen and retrained. For every label in RETRAIN_MODELS whose tuned file trials/<Label>/<Class>-ml-1m.yaml exists:
#   1. freeze it as configs/tuned/<Class>-ml-1m.yaml (once: an existing frozen file that differs from the study's
#      is refused, never overwritten), and copy that to properties/tuned/<Class>-ml-1m.yaml, the recipe that
#      `run.py --model=<Class> --dataset=ml-1m` then trains without --config_files;
#   2. retrain it with seeds 2020-2022 through the experiments pipeline (preset `tuned`, history caps on), which
#      skips the seeds whose record exists and resumes an interrupted one from its last checkpoint. Every retrained
#      run computes its CE in float32 (--ce_bf16=False over the recipe's ce_bf16: true): bf16 products are fast only
#      on a CPU with AMX; on one without (an AVX2-only EPYC, 2026-12-07) they are emulated, several times slower
#      than float32. One precision for every record keeps the retrained runs comparable on whatever machine runs them.
# A label whose search has not finished is skipped with a line saying so. Run it again after a stop.
# Step 5's control: the label `best-nograph` (or `<hybrid>-nograph`) retrains the best hybrid's frozen recipe
# with gnn_layers: 0, its no-graph twin, once all the hybrids' seeds have landed (`best`: common.sh, study_label).
#
#   DATA_PATH=../shared/data tune/ml-1m/2026-12-03/retrain.sh
#   nohup env DATA_PATH=../shared/data tune/ml-1m/2026-12-03/retrain.sh >> retrain.log 2>&1 &   # in the background
#
# Environment:
#   DATA_PATH          required: the folder that holds ml-1m/, relative to where you start it
#   RETRAIN_MODELS     the labels, in order (default: SASRec HybridDiscrete HybridContinuous HybridResidual-fused);
#                      also best-nograph, the best hybrid's no-graph twin
#   RESULTS_DIR        where the records go (default: the checkout's results/runs)
#   CHECKPOINT_DIR     checkpoints, outside the work tree (default: $HOME/recbole-hybrid-state/saved)
#   STUDY_TRIALS_DIR   the study's trials (default: trials/ beside this file)
#   TUNED_CONFIGS      where the frozen recipes go (default: the checkout's configs/tuned)
#   TUNED_PROPERTIES   where their copies go (default: the checkout's properties/tuned)
#   RETRAIN_DRY_RUN=1  freeze, but print each retraining's command line instead of running it
#   PYTHON             the interpreter (default: the checkout's .venv/bin/python where it exists, else python)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
: "${DATA_PATH:?set DATA_PATH to the folder that holds ml-1m/ (e.g. DATA_PATH=../shared/data)}"
data="$(cd "$DATA_PATH" && pwd)"
trials="${STUDY_TRIALS_DIR:-$here/trials}"
results="$(realpath -m "${RESULTS_DIR:-$root/results/runs}")"
checkpoints="$(realpath -m "${CHECKPOINT_DIR:-$HOME/recbole-hybrid-state/saved}")"
python="$(study_python "$root")"
configs="$(realpath -m "${TUNED_CONFIGS:-$root/configs/tuned}")"
properties="$(realpath -m "${TUNED_PROPERTIES:-$root/properties/tuned}")"
caps="[1,2,3,5,10,20,50]"  # the history caps of every published ML-1M comparison
cd "$root"

for label in ${RETRAIN_MODELS:-SASRec HybridDiscrete HybridContinuous HybridResidual-fused}; do
    label="$(study_label "$label" "$python" "$results")"
    model="$(study_model "$label" RETRAIN_MODELS)"
    tuned="$trials/${label%-nograph}/$model-ml-1m.yaml"  # a twin trains its hybrid's recipe
    frozen="$configs/$model-ml-1m.yaml"
    if [ ! -f "$tuned" ]; then
        echo "$label: its search has not finished ($tuned missing), skipped"
        continue
    fi
    body="$(grep -v '^#' "$tuned")"
    if [ -f "$frozen" ]; then
        if [ "$(grep -v '^#' "$frozen")" != "$body" ]; then
            echo "error: $frozen holds other settings than $tuned: move it aside (a published recipe is frozen)" >&2
            exit 2
        fi
    else
        mkdir -p "$configs"
        {
            echo "# Frozen on $(date -u +%Y-%m-%d): $label's tuned recipe on ML-1M, the best trial (validation NDCG@10"
            echo "# with seen items excluded) of the study tune/ml-1m/2026-12-03/. Do not edit: it alone reproduces the"
            echo "# study's retrained runs (tune/ml-1m/2026-12-03/retrain.sh); properties/tuned/ holds a copy."
            echo "# Use: python run.py --model=$model --dataset=ml-1m (reads that copy), or add"
            echo "# --config_files=configs/tuned/$model-ml-1m.yaml. The search's own header follows."
            # The search's "Use:" names the trials file by this machine's absolute path: not the frozen file's use.
            sed -e 's/^# /#   /' -e 's/\(Selected on validation NDCG@10 only\.\) Use: .*/\1/' "$tuned"
        } > "$frozen"
        echo "$label: froze $frozen"
    fi
    mkdir -p "$properties"
    cp "$frozen" "$properties/$model-ml-1m.yaml"
    command=("$python" -m recbole_hybrid experiments tuned --dataset=ml-1m --data_path="$data"
             --config_files="${frozen#"$root"/}" --models="$label" --seeds=3 --eval_history_caps="$caps" --ce_bf16=False
             --results_dir="$results" --checkpoint_dir="$checkpoints")
    study_run "${RETRAIN_DRY_RUN:-0}" "$label: retraining seeds 2020-2022 into $results" "${command[@]}"
done
