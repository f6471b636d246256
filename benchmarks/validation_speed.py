"""One full-ranking validation of ML-1M per model: RecBole's Transformer layers against ``fused_layers``.

    python benchmarks/validation_speed.py [--dataset=ml-1m --data_path=dataset] [--rounds=3] [--threads=2]
        [--out=results/benchmarks/validation_speed-cpu-ml-1m.json]
    python benchmarks/speed_table.py results/benchmarks/validation_speed-cpu-ml-1m.json

Settings: configs/ml-1m/2026-11-27-literature.yaml (length 200, hidden 64, 2 layers), every user of the validation
split, both candidate sets (``evaluation.evaluate``). Each model is freshly initialised (seed 2020): the time does not
depend on the weights. Rounds interleave the two forms of every model and keep the median, so load that changes
during the run hits both alike. Beside the times, how many users' ranks differ between the two forms and the
largest difference of any validation metric: the fused form computes the same function.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature.yaml"
MODELS = ("SASRec", "HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HybridResidual")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {"graph_cache_dir": str(ROOT / "saved" / "graph_cache"), "data_path": args.data_path}
    data, models = None, {}
    for name in args.models.split(","):
        config = build_config(name, args.dataset, [str(CONFIG)], settings)
        if data is None:
            data = config, load_data(config)
        init_seed(config["seed"], config["reproducibility"])
        models[name] = resolve_model(name)(config, data[1][1].dataset).to(config["device"])
    config, (_, train, valid, _) = data
    seen = SeenItems.from_datasets([train.dataset], valid._dataset)
    times = {(name, fused): [] for name in models for fused in (False, True)}
    outputs = {}
    evaluate(models[next(iter(models))], valid, seen, config["device"])  # untimed warm-up
    for _ in range(args.rounds):
        for name, model in models.items():
            for fused in (False, True):
                start = time.perf_counter()
                outputs[name, fused] = evaluate(model, valid, seen, config["device"], fused=fused)
                times[name, fused].append(time.perf_counter() - start)
                print(name, "fused" if fused else "plain", f"{times[name, fused][-1]:.2f} s", flush=True)
    results = []
    for name in models:
        plain, fused = outputs[name, False], outputs[name, True]
        results.append({
            "model": name, "plain_s": statistics.median(times[name, False]),
            "fused_s": statistics.median(times[name, True]),
            "rounds": {"plain": [round(t, 3) for t in times[name, False]],
                       "fused": [round(t, 3) for t in times[name, True]]},
            "users_rank_differs": int(np.sum(plain.rank != fused.rank)),
            "users_rank_filter_seen_differs": int(np.sum(plain.rank_filter_seen != fused.rank_filter_seen)),
            "max_metric_difference": max(abs(plain.metrics[k] - fused.metrics[k]) for k in plain.metrics),
        })
    report = {"benchmark": "validation_speed", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_name(config["device"]), "threads": args.threads, "dataset": args.dataset,
              "config": str(CONFIG.relative_to(ROOT)), "users": int(len(plain.user_id)), "rounds": args.rounds,
              "command": ["python", *sys.argv], "versions": versions(), "results": results}
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"validation_speed-{config['device'].type}-"
               f"{args.dataset}.json")
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
