"""Trial-epochs per hour on this CPU: one trial on every thread, or one trial per core side by side?

    python benchmarks/cpu_trial_throughput.py --data_path=DIR [--models=SASRec,HybridDiscrete] [--steps=30]
        [--threads=2] [--out=results/benchmarks/cpu_trial_throughput.json]

The CPU counterpart of ``tune/throughput.py`` (which measures trials sharing a GPU through Ray). Settings:
``configs/ml-1m/2026-11-27-literature-target.yaml`` (the study's starting recipe: sequence mode, length 200,
128 windows per step). For each model two layouts are measured, each in fresh processes:

- ``1x<threads>``: one process with ``torch.set_num_threads(threads)``;
- ``<threads>x1``: ``threads`` processes at once, one thread each.

Each process loads the data, builds the model, runs 2 untimed steps, times ``--steps`` training steps and one full
validation (6,034 users, seen items excluded), and scales them to one trial-epoch (``epoch_steps`` steps and a
validation). Throughput is trial-epochs per hour summed over the processes of a layout. Nothing else may run on
the machine meanwhile (pause long jobs with SIGSTOP). Writes one JSON with device, date, seed and command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature-target.yaml"


def worker(model_name: str, data_path: str, threads: int, steps: int, seed: int) -> dict:
    """One process: seconds per training step and per validation of ``model_name``."""
    import torch

    torch.set_num_threads(threads)
    from recbole_hybrid.config import build_config, resolve_model
    from recbole_hybrid.evaluation import SeenItems, evaluate
    from recbole_hybrid.model.fast_layers import fuse_layers
    from recbole_hybrid.quick_start.runner import load_data
    from recbole_hybrid.trainer.sequence import SequenceTrainer
    from recbole_hybrid.utils.compat import bare_argv, init_seed

    with bare_argv():
        config = build_config(model_name, "ml-1m", [str(CONFIG)], {"data_path": data_path, "seed": seed,
                                                                   "use_gpu": False})
    _dataset, train_data, valid_data, _test_data = load_data(config)
    init_seed(seed, config["reproducibility"])
    model = resolve_model(model_name)(config, train_data.dataset)
    if config["fused_layers"]:
        fuse_layers(model)
    trainer = SequenceTrainer(config, model, train_data)
    model.train()
    batches = trainer.steps(0)

    def step() -> None:
        trainer.optimizer.zero_grad(set_to_none=True)
        next(batches)().backward()
        trainer.optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - start) / steps
    seen = SeenItems.from_datasets([train_data.dataset], valid_data._dataset)
    model.eval()
    start = time.perf_counter()
    evaluate(model, valid_data, seen, "cpu")
    valid_s = time.perf_counter() - start
    epoch_s = step_s * len(trainer) + valid_s
    return {"model": model_name, "threads": threads, "steps": steps, "step_s": step_s,
            "epoch_steps": len(trainer), "valid_s": valid_s, "trial_epoch_s": epoch_s}


def run_layout(model: str, processes: int, threads: int, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", f"--models={model}", f"--threads={threads}",
           f"--steps={args.steps}", f"--data_path={args.data_path}", f"--seed={args.seed}"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed ({proc.returncode}): {' '.join(cmd)}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    per_hour = sum(3600.0 / r["trial_epoch_s"] for r in results)
    return {"model": model, "layout": f"{processes}x{threads}", "processes": results,
            "trial_epochs_per_hour": per_hour}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_path", required=True, help="folder holding ml-1m/ml-1m.inter")
    parser.add_argument("--models", default="SASRec,HybridDiscrete")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", default="results/benchmarks/cpu_trial_throughput.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.models, args.data_path, args.threads, args.steps, args.seed)))
        return 0
    from recbole_hybrid.utils.records import device_name, versions, write_json

    layouts = []
    for model in [m for m in args.models.split(",") if m]:
        for processes, threads in ((1, args.threads), (args.threads, 1)):
            layouts.append(run_layout(model, processes, threads, args))
            print(f"{model} {layouts[-1]['layout']}: {layouts[-1]['trial_epochs_per_hour']:.1f} trial-epochs/hour",
                  flush=True)
    best = {}
    for model in {row["model"] for row in layouts}:
        rows = sorted((r for r in layouts if r["model"] == model), key=lambda r: -r["trial_epochs_per_hour"])
        best[model] = {"layout": rows[0]["layout"],
                       "ratio": rows[0]["trial_epochs_per_hour"] / rows[1]["trial_epochs_per_hour"]}
    record = {"benchmark": "cpu_trial_throughput", "device": device_name("cpu"),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": args.seed,
              "config": str(CONFIG.relative_to(ROOT)), "steps": args.steps, "threads": args.threads,
              "command": ["python", "benchmarks/cpu_trial_throughput.py", *argv], "versions": versions(),
              "layouts": layouts, "better": best}
    print(f"written: {write_json(args.out, record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
