"""Do ``ce_bf16``, ``fast_dropout`` (and ``fast_compile``) train as well as the reference, and how much faster is an
epoch? One process.

    python benchmarks/ce_bf16.py --data_path=DIR [--model=SASRec] [--seeds=2020,2021,2022] [--epochs=6]
        [--arms=float32,bf16[,bf16-compile]] [--threads=1] [--out=results/benchmarks/ce_bf16-cpu-ml-1m.json]
    python benchmarks/ce_bf16.py --data_path=DIR --arms=bf16,bf16-fastdrop --out=results/benchmarks/fast_dropout-cpu-ml-1m.json

Settings: ``configs/ml-1m/2026-11-27-literature-target.yaml`` (the study's starting recipe: sequence mode, length
200, 128 windows per step, CE over all items). For each seed one fresh model per arm starts from the same init:
``float32`` (the recipe), ``bf16`` (``ce_bf16: True``, ``recbole_hybrid/model/loss.py``), ``bf16-compile`` (also
``fast_compile: True``: the Transformer encoder under ``torch.compile``), ``bf16-fastdrop`` (``ce_bf16`` and
``fast_dropout: True``: ``model/fast_layers.py``'s ``FastDropout``); they train epoch by epoch in turn, each
through the trainer runs use, and each is validated after every epoch (all items, and seen items excluded). The
arms share the same init and batch order, but draw their dropout masks from the one process-wide random stream in
turn, so an arm's masks depend on which arms run beside it: each arm is one draw of its seed, not the float32 run
with only the arithmetic changed.

- Quality: validation NDCG@10 (seen excluded) after each epoch, per seed and arm; the verdict compares each arm's
  mean difference to the reference (the first of ``--arms``) at the last epoch with the reference seeds' spread
  (sd) there.
- Speed: each epoch's training seconds (steps only); the arms alternate epochs, so load that changes during the
  run hits all alike, and the ratio of summed times is the speed-up. Threads: 1, as a study trial.

Writes one JSON with device, date, seeds and command, after every seed; run again with the same ``--out``, it keeps
the seeds measured there and measures the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.model.fast_layers import fast_dropout_layers, fuse_layers
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.trainer import build_epoch_trainer
from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.utils.records import device_name, versions, write_json

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature-target.yaml"
#: Each arm's settings over the recipe; every arm is compared with the first one measured (``--arms``).
ARMS = {"float32": {}, "bf16": {"ce_bf16": True}, "bf16-compile": {"ce_bf16": True, "fast_compile": True},
        "bf16-fastdrop": {"ce_bf16": True, "fast_dropout": True}}


class Arm:
    """One (seed, arm) run: model, trainer, validation curve and epoch times."""

    def __init__(self, model_name: str, dataset: str, settings: dict, name: str, data) -> None:
        self.name = name
        self.config = build_config(model_name, dataset, [str(CONFIG)], {**settings, **ARMS[name]})
        _, train, self.valid, _ = data
        self.seen = SeenItems.from_datasets([train.dataset], self.valid._dataset)
        init_seed(self.config["seed"], self.config["reproducibility"])
        self.model = resolve_model(model_name)(self.config, train.dataset).to(self.config["device"])
        if self.config["fused_layers"]:
            fuse_layers(self.model)  # as runs train
        if self.config["fast_dropout"]:
            fast_dropout_layers(self.model)
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


def summarise(runs: list[dict], arms: list[str]) -> dict:
    """The last epoch's validation NDCG@10 (seen excluded) per arm; for each arm but the reference (``arms[0]``),
    the paired differences to it, whether their mean lies within the reference seeds' sd, and the speed-up over the
    reference (its training seconds over the arm's; the first epoch, which pays for compilation, counted)."""
    reference = arms[0]
    by = {arm: [r for r in runs if r["arm"] == arm] for arm in arms}
    last = {arm: [r["epochs"][-1]["valid_ndcg@10_filter_seen"] for r in rows] for arm, rows in by.items()}
    seconds = {arm: sum(e["train_s"] for r in rows for e in r["epochs"]) for arm, rows in by.items()}
    spread = statistics.stdev(last[reference]) if len(last[reference]) > 1 else None
    out = {"reference": reference, "last_epoch_valid_ndcg@10_filter_seen": last, "reference_seed_sd": spread,
           "train_s": seconds}
    for arm in arms[1:]:
        diffs = [b - f for f, b in zip(last[reference], last[arm])]
        mean_diff = statistics.fmean(diffs)
        out[arm] = {"paired_difference_minus_reference": diffs, "mean_difference": mean_diff,
                    "within_seed_spread": None if spread is None else abs(mean_diff) <= spread,
                    "speedup_over_reference": seconds[reference] / seconds[arm]}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", required=True, help="folder holding <dataset>/")
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", default="float32,bf16",
                        help=f"comma-separated, the reference first, then the arms compared with it: {', '.join(ARMS)}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs={args.epochs} must be at least 1")
    arms = args.arms.split(",")
    if len(arms) < 2 or len(set(arms)) < len(arms) or any(a not in ARMS for a in arms):
        parser.error(f"--arms={args.arms}: the reference, then one or more others, each once, of {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    settings = {"data_path": args.data_path, "show_progress": False}
    kind = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"ce_bf16-{kind}-{args.dataset}.json")
    same = {"dataset": args.dataset, "model": args.model, "epochs": args.epochs, "threads": args.threads,
            "arms": {arm: ARMS[arm] for arm in arms}}
    runs = []
    if out.is_file():  # an interrupted measurement: keep the seeds it finished, with the same settings
        earlier = json.loads(out.read_text())
        if {k: earlier.get(k) for k in same} != same:
            parser.error(f"{out} holds a measurement with other settings: give --out another file")
        runs = [r for r in earlier["runs"] if r["seed"] in seeds]
        print(f"{out}: seeds {sorted({r['seed'] for r in runs})} already measured, kept")
    data = None
    for seed in seeds:
        if any(r["seed"] == seed for r in runs):
            continue
        trained = []
        for arm_name in arms:
            config_settings = {**settings, "seed": seed}
            if data is None:  # one split for every arm: seeds and arms change no data setting
                data = load_data(build_config(args.model, args.dataset, [str(CONFIG)], config_settings))
            trained.append(Arm(args.model, args.dataset, config_settings, arm_name, data))
        for epoch in range(args.epochs):
            for arm in trained:
                row = arm.epoch(epoch)
                print(f"seed {seed} {arm.name:12s} epoch {epoch}  loss {row['train_loss']:.4f}  "
                      f"{row['train_s']:6.1f}s  valid ndcg@10 (seen excluded) "
                      f"{row['valid_ndcg@10_filter_seen']:.4f}", flush=True)
        runs += [{"seed": seed, "arm": arm.name, "epochs": arm.epochs} for arm in trained]
        del trained
        done = sorted({r["seed"] for r in runs})
        report = {"benchmark": "ce_bf16", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "device": device_name(kind), **same, "seeds": done, "config": str(CONFIG.relative_to(ROOT)),
                  "command": ["python", *sys.argv], "versions": versions(), "summary": summarise(runs, arms),
                  "runs": runs}
        write_json(out, report)  # after every seed: a stop loses at most the seed in progress
        print(f"wrote {out} (seeds {done})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
