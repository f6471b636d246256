"""Validation NDCG@10 that each training scheme reaches after the same training time, in one process.

    python benchmarks/wallclock_quality.py [--dataset=ml-1m --data_path=dataset] [--model=SASRec]
        [--checkpoints=60,120,240,480] [--threads=1] [--out=results/benchmarks/wallclock_quality-cpu-ml-1m.json]

Schemes, each a fresh model from the same seed:

- ``sequence``: ``configs/ml-1m/2026-11-27-literature.yaml`` as the ML-1M runs use it (user windows, CE at every
  position, length 200, 128 windows per step);
- ``prefix``: the same file with ``train_mode: prefix`` (RecBole's prefix rows, ``--prefix_batch`` rows per step:
  2048 rows of length 200 do not fit in memory on a CPU);
- ``prefix-defaults``: the project's defaults for the model, no config file, with ``train_mode: prefix`` (prefix
  rows, length 50, batch 2048, dropout 0.5), as ``run.py`` trained it when a user gave only the model and the dataset
  before ``train_mode: auto`` became the default.

At each checkpoint ``t`` every scheme trains until its own training clock (steps only: no data loading, no
validation) reaches ``t``, possibly mid-epoch, then validates on the full validation split (all items, and seen items
excluded). The schemes take turns between checkpoints, so load that changes during the run hits all of them alike.
Writes one JSON file; ``benchmarks/speed_table.py`` prints its table.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import torch

from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.model.fast_layers import fuse_layers
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.trainer import build_epoch_trainer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature.yaml"
SCHEMES = ("sequence", "prefix", "prefix-defaults")
#: The settings of each scheme's config that the table shows.
SHOWN = ("train_mode", "MAX_ITEM_LIST_LENGTH", "train_batch_size", "hidden_dropout_prob", "loss_type")


class Scheme:
    """One training scheme: its config, data, model and trainer, and a training clock that survives checkpoints."""

    def __init__(self, name: str, model_name: str, dataset: str, settings: dict, prefix_batch: int,
                 loaded: dict) -> None:
        self.name = name
        files, overrides = [str(CONFIG)], dict(settings)
        if name == "prefix":
            overrides.update(train_mode="prefix", train_batch_size=prefix_batch)
        elif name == "prefix-defaults":
            files = []
            overrides.update(train_mode="prefix")
        self.config = build_config(model_name, dataset, files, overrides)
        key = (tuple(files), self.config["MAX_ITEM_LIST_LENGTH"])  # sequence and prefix share one copy of the split
        if key not in loaded:
            loaded[key] = load_data(self.config)
        _, train, self.valid, _ = loaded[key]
        self.seen = SeenItems.from_datasets([train.dataset], self.valid._dataset)
        init_seed(self.config["seed"], self.config["reproducibility"])
        self.model = resolve_model(model_name)(self.config, train.dataset).to(self.config["device"])
        if self.config["fused_layers"]:
            fuse_layers(self.model)  # as runs train (trainer.fit_and_test)
        self.trainer_name, self.trainer = build_epoch_trainer(self.config, self.model, train)
        self.stream = self._steps()
        self.train_s, self.steps = 0.0, 0
        self.points: list[dict] = []

    def _steps(self) -> Iterator[Callable[[], torch.Tensor]]:
        epoch = 0
        while True:
            yield from self.trainer.steps(epoch)
            epoch += 1

    def train_until(self, seconds: float) -> None:
        """Train step by step until the training clock reaches ``seconds`` (the step that crosses it completes)."""
        self.model.train()
        optimizer = self.trainer.optimizer
        cuda = torch.device(self.config["device"]).type == "cuda"
        with torch.autograd.set_detect_anomaly(False):
            while self.train_s < seconds:
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                losses = next(self.stream)()
                (sum(losses) if isinstance(losses, tuple) else losses).backward()
                optimizer.step()
                if cuda:  # kernels run asynchronously: the step ends when the device is done
                    torch.cuda.synchronize()
                self.train_s += time.perf_counter() - start
                self.steps += 1

    def validate(self, checkpoint: float) -> dict:
        evaluation = evaluate(self.model, self.valid, self.seen, self.config["device"])
        point = {"checkpoint_s": checkpoint, "train_s": self.train_s, "steps": self.steps,
                 "epochs": self.steps / len(self.trainer), "valid_ndcg@10": evaluation.metrics["ndcg@10"],
                 "valid_ndcg@10_filter_seen": evaluation.metrics_filter_seen["ndcg@10"]}
        self.points.append(point)
        return point

    def result(self) -> dict:
        return {"scheme": self.name, "model": self.config["model"], "trainer": self.trainer_name,
                "steps_per_epoch": len(self.trainer), "settings": {k: self.config[k] for k in SHOWN},
                "points": self.points}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--checkpoints", default="60,120,240,480", help="training seconds, ascending")
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument("--prefix_batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    checkpoints = [float(c) for c in args.checkpoints.split(",")]
    if not checkpoints or checkpoints != sorted(checkpoints) or checkpoints[0] <= 0:
        parser.error(f"--checkpoints={args.checkpoints} must be positive seconds in ascending order")
    names = args.schemes.split(",")
    if unknown := [n for n in names if n not in SCHEMES]:
        parser.error(f"--schemes: unknown {unknown}; known: {', '.join(SCHEMES)}")
    torch.set_num_threads(args.threads)
    settings = {"data_path": args.data_path, "graph_cache_dir": str(ROOT / "saved" / "graph_cache"),
                "seed": args.seed}
    loaded: dict = {}
    schemes = [Scheme(name, args.model, args.dataset, settings, args.prefix_batch, loaded) for name in names]
    for checkpoint in checkpoints:
        for scheme in schemes:
            scheme.train_until(checkpoint)
            point = scheme.validate(checkpoint)
            print(scheme.name, {k: round(v, 4) for k, v in point.items()}, flush=True)
    device = schemes[0].config["device"]
    report = {"benchmark": "wallclock_quality", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_name(device), "threads": args.threads, "dataset": args.dataset, "seed": args.seed,
              "config": str(CONFIG.relative_to(ROOT)), "prefix_batch": args.prefix_batch,
              "checkpoints_s": checkpoints, "command": ["python", *sys.argv], "versions": versions(),
              "results": [s.result() for s in schemes]}
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"wallclock_quality-{device.type}-{args.dataset}.json")
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
