#!/usr/bin/env bash
# The literature grid on a lent GPU machine (issue 10: "run what is left in one prepared script of at most 10
# minutes, several runs at once on the GPU"). PROCS processes share the GPU and the plan (each run folder is held by
# one process, recbole_hybrid/runlock.py); after LIMIT seconds they are interrupted (an interrupted run keeps its
# last finished epoch in last.pth), and the new records, ranks and a(L) curves, with the checkpoints of unfinished
# runs, are packed into $OUT/grid.tar.gz. Runs whose record is already in results/runs are skipped.
#
#   here:  ../shared/tools/device-bundle --data ml-1m
#   there: bash scripts/device_grid.sh            (device run: carry [".device"], timeout_s at least LIMIT + 120)
#   here:  tar xzf FILES_AT/grid.tar.gz           # records into results/runs, checkpoints into saved/device/
#          then resume the unfinished ones here with the same command and CHECKPOINT_DIR=saved/device, or on the
#          next lent machine by carrying saved/device.
#
# BENCH=1 first runs benchmarks/sequence_speed.py (issue 9's GPU table: sequence vs prefix, bf16, torch.compile) for
# at most BENCH_LIMIT seconds (200), its JSON into $OUT; render it with benchmarks/speed_table.py.
# Each process runs the stages of scripts/run_literature_grid.sh in order: MODELS (the six labels of the issue's
# table and HybridResidual-fused, every seed) and then LATER (HybridResidual-fused-nograph,
# HybridResidual-fused-itemgate and HybridResidual; empty: none), all within the one
# deadline LIMIT seconds from the start of the grid.
# Environment: RECIPE (literature-target), PROCS (4 processes), LIMIT (seconds, 420), MODELS, LATER,
# SEEDS (3), DATASET (ml-1m), DATA_PATH (.device/data; empty: RecBole's own for ml-100k), RESULTS_DIR
# (results/runs), CHECKPOINT_DIR (saved/device), OUT (where the device tool collects files; saved/device-out here),
# PYTHON (python3). Other arguments are RecBole settings of every run (e.g. --epochs=2 for a try on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f .device/setup.sh ] && [ -z "${NO_SETUP:-}" ]; then
  bash .device/setup.sh
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
PYTHON=${PYTHON:-python3}
RECIPE=${RECIPE:-literature-target}
PROCS=${PROCS:-4}
LIMIT=${LIMIT:-420}
DATASET=${DATASET:-ml-1m}
DATA_PATH=${DATA_PATH-.device/data}
RESULTS_DIR=${RESULTS_DIR:-results/runs}
CHECKPOINT_DIR=${CHECKPOINT_DIR:-saved/device}
OUT=${OUT:-saved/device-out}
MODELS=${MODELS:-SASRec,HybridResidual-fused,HybridFixed,HybridDiscrete,HybridLearnable,HybridContinuous,HybridDiscrete-nograph}
LATER=${LATER-HybridResidual-fused-nograph,HybridResidual-fused-itemgate,HybridResidual}
mkdir -p "$OUT" "$CHECKPOINT_DIR" "$RESULTS_DIR"
start=$(mktemp)  # files newer than this one are this call's
data_arg=()
[ -n "$DATA_PATH" ] && data_arg=(--data_path="$DATA_PATH")

"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda:', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
if [ -n "${BENCH:-}" ]; then  # issue 9's GPU table first: sequence vs prefix, bf16 and torch.compile tried
  PYTHONUNBUFFERED=1 timeout "${BENCH_LIMIT:-200}" "$PYTHON" benchmarks/sequence_speed.py --dataset="$DATASET" \
      "${data_arg[@]}" --bf16 --compile --prefix_batch=2048 --rounds=3 --steps=20 --prefix_steps=5 --threads=4 \
      --out="$OUT/sequence_speed-cuda-$DATASET.json" > "$OUT/bench.log" 2>&1 || echo "benchmark: exit $?"
fi
deadline=$(( $(date +%s) + LIMIT ))
run_stages() {  # one process: the stages in order; a stage cut by the deadline or failing ends it
  local labels left
  for labels in "$MODELS" ${LATER:+"$LATER"}; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 0 ] || return 0
    PYTHONUNBUFFERED=1 timeout -s INT "$left" "$PYTHON" -m recbole_hybrid.experiments "$RECIPE" \
        --dataset="$DATASET" "${data_arg[@]}" --config_files="configs/ml-1m/2026-11-27-$RECIPE.yaml" \
        --seeds="${SEEDS:-3}" --models="$labels" --results_dir="$RESULTS_DIR" --checkpoint_dir="$CHECKPOINT_DIR" \
        "$@" || return 0
  done
}
for i in $(seq 1 "$PROCS"); do
  run_stages "$@" > "$OUT/grid-$i.log" 2>&1 &
  # the first process builds the dataset's graph cache; the others start once it is there
  [ "$i" = 1 ] && [ "$PROCS" -gt 1 ] && sleep "${STAGGER:-30}"
done
wait || true

{
  find "$RESULTS_DIR" -type f -newer "$start"
  for folder in "$CHECKPOINT_DIR"/*/; do
    [ -f "$folder/last.pth" ] || continue
    run_id=$(basename "$folder")
    [ -f "$RESULTS_DIR/$run_id.json" ] && continue  # finished: its record is what counts
    for f in last.pth best.pth invocation.json; do [ -f "$folder/$f" ] && echo "$folder/$f"; done
  done
} | sed 's|//|/|g' | sort -u > "$OUT/packed.txt"
tar czf "$OUT/grid.tar.gz" -T "$OUT/packed.txt"
echo "packed $(wc -l < "$OUT/packed.txt") files into $OUT/grid.tar.gz:"
cat "$OUT/packed.txt"
grep -h "epoch .*valid" "$OUT"/grid-*.log | tail -n 5 || true
