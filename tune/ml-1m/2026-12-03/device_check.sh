#!/usr/bin/env bash
# The GPU part of the ML-1M study (issue 26, item 6, and the GPU side of item 3), as one short run on a lent GPU
# machine. Rehearse it on a CPU first (DEVICE_CHECK_SMOKE=1, below); on the GPU run it from the repository root
# after `../shared/tools/device-bundle --ray --data ml-1m` here, as the device tool's command:
#
#   bash tune/ml-1m/2026-12-03/device_check.sh            # writes into $OUT (the device tool's folder)
#
# 1. Ray Tune trials sharing the GPU: the study's starting recipe (configs/ml-1m/2026-11-27-literature-target.yaml)
#    for SASRec, 1, 2 and 4 trials at once (1, 0.5 and 0.25 GPU each), the same trials and epochs per level
#    (tune/throughput.py): trials per hour, and seconds per trial-epoch, to set against the CPU study's
#    (results/benchmarks/cpu_trial_throughput-ml-1m.json).
# 2. ce_bf16 on the GPU: the float32 and the bf16 CE side by side, one seed, a few epochs (benchmarks/ce_bf16.py).
#
# Environment: OUT (where the JSON files go; default results/device), DEVICE_CHECK_SMOKE=1 (ml-100k from RecBole's
# package, 1 epoch, 2 trials, levels 1 and 2: the CPU rehearsal of this script), PYTHON, and the two parts' time
# limits in seconds, THROUGHPUT_S (default 420) and BF16_S (default 150), sized for the 15 device minutes; a CPU
# rehearsal beside training needs more (each level starts Ray and its trials' imports anew).
# Rehearsed on this project's 2-core CPU on 2026-12-03 (DEVICE_CHECK_SMOKE=1 THROUGHPUT_S=1800 BF16_S=600, beside two
# training runs): both parts ran to the end and wrote their JSON files; the smoke's numbers mean nothing.
set -euo pipefail
out="${OUT:-results/device}"
mkdir -p "$out"
python="${PYTHON:-python}"
if [ -f .device/setup.sh ] && [ "${DEVICE_CHECK_SMOKE:-0}" != 1 ]; then
    bash .device/setup.sh
    export PYTHONPATH="$PWD:/tmp/site:${PYTHONPATH:-}"
    data=.device/data
else
    export PYTHONPATH="$PWD:${PYTHONPATH:-}"
    data="${DATA_PATH:-../shared/data}"
fi
export RAY_AUTH_MODE=disabled
recipe=configs/ml-1m/2026-11-27-literature-target.yaml
if [ "${DEVICE_CHECK_SMOKE:-0}" = 1 ]; then
    dataset=(--dataset=ml-100k) levels=1,2 trials=2 epochs=1 bf16_epochs=1
    data="$("$python" -c 'import recbole, os; print(os.path.join(os.path.dirname(recbole.__file__), "dataset_example"))')"
else
    dataset=(--dataset=ml-1m) levels=1,2,4 trials=4 epochs=2 bf16_epochs=3
fi
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>/dev/null || true

echo "== 1. trials sharing the GPU: $levels at once"
timeout "${THROUGHPUT_S:-420}" "$python" tune/throughput.py --model=SASRec "${dataset[@]}" --data_path="$data" \
    --config_files="$recipe" --concurrency="$levels" --trials="$trials" --epochs="$epochs" --cpus_per_trial=3 \
    --show_progress=False --out="$out/throughput-SASRec-${dataset[0]#--dataset=}.json" || echo "throughput: exit $?"

echo "== 2. ce_bf16, one seed, $bf16_epochs epochs"
timeout "${BF16_S:-150}" "$python" benchmarks/ce_bf16.py "${dataset[@]}" --data_path="$data" --seeds=2020 \
    --epochs="$bf16_epochs" --threads=4 --out="$out/ce_bf16-${dataset[0]#--dataset=}.json" || echo "ce_bf16: exit $?"
ls -l "$out"
