"""Epoch time of sequence-level against prefix-row training, SASRec and every hybrid, in one process.

    python benchmarks/sequence_speed.py [--dataset=ml-1m --data_path=dataset] [--steps=20] [--prefix_steps=3]
        [--rounds=2]
        [--threads=2] [--probe] [--variants=sequence,prefix,...] [--out=results/benchmarks/sequence_speed-cpu-ml-1m.json]

Settings: configs/ml-1m/2026-11-27-literature.yaml (length 200, hidden 64, 2 layers, dropout 0.2, CE), every window.
Variants, each timed for ``--steps`` steps per round (prefix rows: ``--prefix_steps``; rounds interleave the
variants and the median is kept, so load that changes during the run hits all alike) and scaled to a full epoch by
its step count:

- ``sequence``: ``SequenceTrainer`` as runs use it (length batching, chunked CE), SASRec, the four hybrids and
  HybridResidual; ``sequence-fused``: HybridResidual with ``score_table: fused`` (the grid's HybridResidual-fused;
  its chunked CE multiplies ``[c_E h, c_G h]`` by ``[E, G]``), and ``sequence-fused-plain-ce`` the same with the
  plain CE of the full logits;
- ``sequence-recbole-layers`` (SASRec, HybridDiscrete): with RecBole's own Transformer kernels
  (``fused_layers: False``; every other variant fuses them as runs do, ``recbole_hybrid/model/fast_layers.py``);
- ``sequence-random-batches`` and ``sequence-plain-ce`` (SASRec): each speed choice undone, to show what it gives;
  ``sequence-probe-scheme`` (SASRec): both undone, i.e. the reference probe's scheme (random batches cut to their
  longest window, ``F.cross_entropy`` of the full logits) in this code, timed in the same rounds;
- ``prefix``: ``FastTrainer`` on RecBole's prefix rows (``--prefix_batch`` rows per step, default 256), SASRec and
  HybridDiscrete;
- ``--probe``: the reference ``../shared/tools/seq_probe.py --windows`` for one epoch in a subprocess (its own timing);
- ``--bf16`` / ``--compile`` (meant for CUDA): SASRec and HybridDiscrete in sequence mode again with bf16 autocast,
  with ``torch.compile`` of the Transformer encoder (dynamic shapes: batches are cut to their longest window), and
  with both.

Every variant first runs ``--warmup`` untimed steps (CUDA start-up, compilation); on CUDA each timing synchronises
the device before reading the clock.

Also the time of one full validation (6,034 users, all items and seen items excluded). Writes one JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.trainer.fast import FastTrainer
from recbole_hybrid.model.fast_layers import fuse_layers
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.sequence import SequenceTrainer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature.yaml"
HYBRIDS = ("HybridFixed", "HybridDiscrete", "HybridLearnable", "HybridContinuous")
PROBE = ROOT.parent / "shared" / "tools" / "seq_probe.py"


class Variant:
    """One (scheme, model) pair with its own model and optimiser; ``step_time`` runs ``steps`` steps."""

    def __init__(self, name: str, model_name: str, config, train_data) -> None:
        self.name, self.model_name = name, model_name
        init_seed(config["seed"], config["reproducibility"])
        self.model = resolve_model(model_name)(config, train_data.dataset).to(config["device"])
        if config["fused_layers"]:
            fuse_layers(self.model)  # as runs train (trainer.fit_and_test)
        self.device = torch.device(config["device"])
        self.bf16 = "bf16" in name.split("-")
        if "compile" in name.split("-"):
            self.model.trm_encoder.compile(dynamic=True)
        if name.startswith("sequence"):
            self.trainer = SequenceTrainer(config, self.model, train_data)
            self.trainer.batching = "random" if name in ("sequence-random-batches", "sequence-probe-scheme") \
                else "length"
            self.trainer.chunked_ce = name not in ("sequence-plain-ce", "sequence-fused-plain-ce",
                                                   "sequence-probe-scheme")
        else:
            self.trainer = FastTrainer(config, self.model, train_data)
        self.epoch_steps = len(self.trainer)
        self.times: list[float] = []
        self.epoch = 0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run_steps(self, steps: int) -> float:
        """Run ``steps`` steps of a fresh epoch order (its first steps: a random sample); return seconds per step."""
        self.model.train()
        batches = self.trainer.steps(self.epoch)
        self.epoch += 1
        self._sync()
        start = time.perf_counter()
        with torch.autograd.set_detect_anomaly(False):
            for _, batch_loss in zip(range(steps), batches):
                self.trainer.optimizer.zero_grad(set_to_none=True)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    loss = batch_loss()
                loss.backward()
                self.trainer.optimizer.step()
        self._sync()
        return (time.perf_counter() - start) / steps

    def step_time(self, steps: int) -> None:
        """Time ``steps`` steps and keep their seconds per step."""
        self.times.append(self.run_steps(steps))

    def result(self) -> dict:
        per_step = statistics.median(self.times)
        return {"variant": self.name, "model": self.model_name, "s_per_step": per_step,
                "steps_per_epoch": self.epoch_steps, "epoch_s": per_step * self.epoch_steps,
                "rounds": [round(t, 4) for t in self.times]}


def run_probe(data_path: str, threads: int) -> dict:
    """One epoch of the reference probe (every window), its own printed timing."""
    inter = Path(data_path) / "ml-1m" / "ml-1m.inter"
    out = subprocess.run([sys.executable, str(PROBE), "--windows", "--epochs", "1", "--eval_every", "1000",
                          "--threads", str(threads), "--inter", str(inter)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return {"variant": "probe", "model": "seq_probe.py --windows", "epoch_s": json.loads(out.stdout.splitlines()[-1])
            ["train_s"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--steps", type=int, default=20, help="steps per round, sequence variants")
    parser.add_argument("--prefix_steps", type=int, default=3, help="steps per round, prefix variants")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--prefix_models", default="SASRec,HybridDiscrete")
    parser.add_argument("--prefix_batch", type=int, default=256,
                        help="prefix rows per step (2048 rows of length 200 need over 10 GB of activations on a CPU)")
    parser.add_argument("--bf16", action="store_true", help="also bf16 autocast variants (SASRec, HybridDiscrete)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile variants (SASRec, HybridDiscrete)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant before the rounds")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variant names to time (default: all of them)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {"graph_cache_dir": str(ROOT / "saved" / "graph_cache")}
    if args.data_path:
        settings["data_path"] = args.data_path
    device_variants = [name for name, wanted in (("sequence-bf16", args.bf16), ("sequence-compile", args.compile),
                                                 ("sequence-bf16-compile", args.bf16 and args.compile)) if wanted]
    variants = []
    data = None  # one copy of the split for every variant: the data settings are the same for all
    for name, models in (("sequence", ("SASRec", *HYBRIDS, "HybridResidual")), ("sequence-fused", ("HybridResidual",)),
                         ("sequence-fused-plain-ce", ("HybridResidual",)),
                         ("sequence-recbole-layers", ("SASRec", "HybridDiscrete")),
                         ("sequence-random-batches", ("SASRec",)),
                         ("sequence-plain-ce", ("SASRec",)), ("sequence-probe-scheme", ("SASRec",)),
                         *((name, ("SASRec", "HybridDiscrete")) for name in device_variants),
                         ("prefix", args.prefix_models.split(","))):
        if args.variants and name not in args.variants.split(","):
            continue
        for model_name in models:
            overrides = settings if name.startswith("sequence") else {
                **settings, "train_mode": "prefix", "train_batch_size": args.prefix_batch}
            if name.startswith("sequence-fused"):
                overrides = {**settings, "score_table": "fused"}
            if name == "sequence-recbole-layers":
                overrides = {**settings, "fused_layers": False}
            config = build_config(model_name, args.dataset, [str(CONFIG)], overrides)
            if data is None:
                data = config, load_data(config)
            variants.append(Variant(name, model_name, config, data[1][1]))
    for v in variants:
        if args.warmup:
            v.run_steps(args.warmup)
    for _ in range(args.rounds):
        for v in variants:
            v.step_time(args.steps if v.name.startswith("sequence") else args.prefix_steps)
            print(json.dumps(v.result()), flush=True)
    config, (_, train, valid, _) = data
    seen = SeenItems.from_datasets([train.dataset], valid._dataset)
    model = variants[0].model
    start = time.perf_counter()
    evaluate(model, valid, seen, config["device"])
    valid_s = time.perf_counter() - start
    results = [v.result() for v in variants]
    if args.probe:
        results.append(run_probe(args.data_path, args.threads))
    report = {"benchmark": "sequence_speed", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_name(config["device"]), "threads": args.threads,
              "config": str(CONFIG.relative_to(ROOT)), "dataset": args.dataset, "steps": args.steps,
              "prefix_steps": args.prefix_steps, "prefix_batch": args.prefix_batch, "rounds": args.rounds,
              "warmup": args.warmup, "command": ["python", *sys.argv],
              "versions": versions(), "results": results, "valid_s": valid_s}
    name = f"sequence_speed-{config['device'].type}-{args.dataset}.json"
    out = Path(args.out or ROOT / "results" / "benchmarks" / name)
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
