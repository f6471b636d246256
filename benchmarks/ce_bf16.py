"""Does ``ce_bf16: True`` train as well as float32, and how much faster is its epoch? One process, both measured.

    python benchmarks/ce_bf16.py --data_path=DIR [--model=SASRec] [--seeds=2020,2021,2022] [--epochs=6]
        [--threads=1] [--out=results/benchmarks/ce_bf16-cpu-ml-1m.json]

Settings: ``configs/ml-1m/2026-11-27-literature-target.yaml`` (the study's starting recipe: sequence mode, length
200, 128 windows per step, CE over all items). For each seed two fresh models start from the same init, one with the
float32 CE and one with ``ce_bf16: True`` (``recbole_hybrid/model/loss.py``); they train epoch by epoch in turn, each
through the trainer runs use, and each is validated after every epoch (all items, and seen items excluded).

- Quality: validation NDCG@10 (seen excluded) after each epoch, per seed and precision; the verdict compares the
  mean bf16-minus-float32 difference at the last epoch with the float32 seeds' spread (sd) there.
- Speed: each epoch's training seconds (steps only); the two precisions alternate epochs, so load that changes
  during the run hits both alike, and the ratio of their summed times is the speed-up. Threads: 1, as a study trial.

Writes one JSON with device, date, seeds and command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.model.fast_layers import fuse_layers
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.trainer import build_epoch_trainer
from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.utils.records import device_name, versions, write_json

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature-target.yaml"
PRECISIONS = {"float32": False, "bf16": True}


class Arm:
    """One (seed, precision) run: model, trainer, validation curve and epoch times."""

    def __init__(self, model_name: str, dataset: str, settings: dict, precision: str, data) -> None:
        self.precision = precision
        self.config = build_config(model_name, dataset, [str(CONFIG)], {**settings, "ce_bf16": PRECISIONS[precision]})
        _, train, self.valid, _ = data
        self.seen = SeenItems.from_datasets([train.dataset], self.valid._dataset)
        init_seed(self.config["seed"], self.config["reproducibility"])
        self.model = resolve_model(model_name)(self.config, train.dataset).to(self.config["device"])
        if self.config["fused_layers"]:
            fuse_layers(self.model)  # as runs train
        _, self.trainer = build_epoch_trainer(self.config, self.model, train)
        self.epochs: list[dict] = []

    def epoch(self, epoch: int) -> dict:
        """Train one epoch (timed), validate, and keep both."""
        start = time.perf_counter()
        loss = self.trainer.train_epoch(epoch)
        train_s = time.perf_counter() - start
        evaluation = evaluate(self.model, self.valid, self.seen, self.config["device"])
        row = {"epoch": epoch, "train_loss": loss, "train_s": train_s,
               "valid_ndcg@10": evaluation.metrics["ndcg@10"],
               "valid_ndcg@10_filter_seen": evaluation.metrics_filter_seen["ndcg@10"]}
        self.epochs.append(row)
        return row


def summarise(runs: list[dict]) -> dict:
    """The last epoch's validation NDCG@10 (seen excluded) per precision, the paired differences and the speed-up."""
    by = {p: [r for r in runs if r["precision"] == p] for p in PRECISIONS}
    last = {p: [r["epochs"][-1]["valid_ndcg@10_filter_seen"] for r in rows] for p, rows in by.items()}
    diffs = [b - f for f, b in zip(last["float32"], last["bf16"])]
    spread = statistics.stdev(last["float32"]) if len(last["float32"]) > 1 else float("nan")
    seconds = {p: sum(e["train_s"] for r in rows for e in r["epochs"]) for p, rows in by.items()}
    mean_diff = statistics.fmean(diffs)
    return {"last_epoch_valid_ndcg@10_filter_seen": last, "paired_difference_bf16_minus_float32": diffs,
            "mean_difference": mean_diff, "float32_seed_sd": spread,
            "within_seed_spread": abs(mean_diff) <= spread, "train_s": seconds,
            "speedup_float32_over_bf16": seconds["float32"] / seconds["bf16"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", required=True, help="folder holding <dataset>/")
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs={args.epochs} must be at least 1")
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    settings = {"data_path": args.data_path, "show_progress": False}
    runs, device = [], None
    data = None
    for seed in seeds:
        arms = []
        for precision in PRECISIONS:
            config_settings = {**settings, "seed": seed}
            if data is None:  # one split for every arm: seeds and precision change no data setting
                data = load_data(build_config(args.model, args.dataset, [str(CONFIG)], config_settings))
            arms.append(Arm(args.model, args.dataset, config_settings, precision, data))
        device = arms[0].config["device"]
        for epoch in range(args.epochs):
            for arm in arms:
                row = arm.epoch(epoch)
                print(f"seed {seed} {arm.precision:7s} epoch {epoch}  loss {row['train_loss']:.4f}  "
                      f"{row['train_s']:6.1f}s  valid ndcg@10 (seen excluded) "
                      f"{row['valid_ndcg@10_filter_seen']:.4f}", flush=True)
        runs += [{"seed": seed, "precision": arm.precision, "epochs": arm.epochs} for arm in arms]
        del arms
    report = {"benchmark": "ce_bf16", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_name(device), "threads": args.threads, "dataset": args.dataset,
              "model": args.model, "seeds": seeds, "epochs": args.epochs, "config": str(CONFIG.relative_to(ROOT)),
              "command": ["python", *sys.argv], "versions": versions(), "summary": summarise(runs), "runs": runs}
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"ce_bf16-{device.type}-{args.dataset}.json")
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
