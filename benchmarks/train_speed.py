"""Training speed of stock RecBole SASRec against the fast trainer (SASRec and the hybrids), in one process.

    python benchmarks/train_speed.py [--dataset=ml-1m --data_path=dataset] [--batch_sizes=256,2048]
        [--steps=20] [--rounds=3] [--all_hybrids] [--compile] [--preset=paper|tiny] [--threads=N] [--out=x.json]

Variants, each on the same rows, device and settings:
  ``recbole``            SASRec trained by RecBole's ``Trainer._train_epoch`` as RecBole runs it (autograd anomaly
                         detection on: importing RecBole's sequential models switches it on for the process);
  ``recbole-no-anomaly`` the same with anomaly detection off (to show how much of the gap that one setting is);
  ``fast``               SASRec, HybridDiscrete (and with ``--all_hybrids`` the other hybrids) trained by
                         ``recbole_hybrid.trainer.fast.FastTrainer``;
  ``fast-compile``       with ``--compile``: SASRec and HybridDiscrete, fast trainer with ``fast_compile: True``
                         (the warm-up epoch includes the compilation; a batch size is a new shape, so it recompiles).
With ``--steps=K`` each timed epoch runs over the same ``K * batch`` training rows (a seeded sample), so it is ``K``
steps; ``epoch_s`` is then ``ms_per_step`` times the full epoch's step count (``epoch_s_from`` says so). ``--steps=0``
times full epochs. Rounds interleave the variants and the median is kept, so load that changes during the run hits
every variant alike. Per step: ms, samples/s, CUDA kernels (torch.profiler; CPU ops on CPU); peak CUDA memory; full-
ranking validation time through ``evaluate_full`` (the project's evaluator, as every run uses it). Writes one JSON file.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from recbole.data.dataloader import TrainDataLoader
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.trainer.fast import FastTrainer
from recbole_hybrid.model.fast_layers import fuse_layers
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data

ROOT = Path(__file__).resolve().parent.parent  # the checkout: default output folders (the package is installed)

#: The issue's GPU settings are the project defaults (max length 50, hidden 64, two layers); ``tiny`` is the tests'.
PRESETS = {
    "paper": {},
    "tiny": {"MAX_ITEM_LIST_LENGTH": 20, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 2,
             "L_short": 5, "L_long": 15},
}


def evaluate_full(config, model, train_dataset, valid_data) -> dict:
    """Full-ranking validation as runs do it: ``evaluation.evaluate`` (all items and seen items excluded, one pass)."""
    seen = SeenItems.from_datasets([train_dataset], valid_data._dataset)
    return evaluate(model, valid_data, seen, config["device"]).metrics


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Variant:
    """One (trainer, model) pair at one batch size, trained on ``rows`` (a RecBole training dataset)."""

    def __init__(self, name: str, model_name: str, config, full_train, rows) -> None:
        self.name, self.model_name, self.config = name, model_name, config
        init_seed(config["seed"], config["reproducibility"])
        self.model = resolve_model(model_name)(config, full_train).to(config["device"])  # graph from the full split
        loader = TrainDataLoader(config, rows, None, shuffle=True)
        if name.startswith("fast"):
            if config["fused_layers"]:
                fuse_layers(self.model)  # as runs train; the stock variants keep RecBole's kernels
            fast = FastTrainer(config, self.model, loader)
            self.epoch = fast.train_epoch
        else:
            trainer = Trainer(config, self.model)
            anomaly = name == "recbole" and torch.is_anomaly_enabled()
            self.epoch = self._stock_epoch(trainer, loader, anomaly)
        self.steps = len(loader)
        self.times: list[float] = []

    @staticmethod
    def _stock_epoch(trainer, loader, anomaly: bool):
        def run(epoch: int) -> float:
            with torch.autograd.set_detect_anomaly(anomaly):
                return trainer._train_epoch(loader, epoch)
        return run

    def timed_epoch(self, epoch: int) -> None:
        device = torch.device(self.config["device"])
        sync(device)
        start = time.perf_counter()
        self.epoch(epoch)
        sync(device)
        self.times.append(time.perf_counter() - start)

    def ops_per_step(self, epoch: int) -> dict:
        """Kernels (CUDA) or operator calls (CPU) per step, counted by torch.profiler over one epoch."""
        from torch.profiler import ProfilerActivity, profile

        device = torch.device(self.config["device"])
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            self.epoch(epoch)
            sync(device)
        events = prof.events()
        if device.type == "cuda":
            kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA
                       and not e.name.startswith(("Memcpy", "Memset"))]
            return {"cuda_kernels_per_step": len(kernels) / self.steps}
        return {"cpu_ops_per_step": sum(1 for e in events if e.name.startswith("aten::")) / self.steps}


def sample_rows(train_dataset, n_rows: int, seed: int):
    """A seeded sample of ``n_rows`` training rows as a RecBole dataset (all of them when ``n_rows`` is 0)."""
    total = len(train_dataset)
    if n_rows <= 0 or n_rows >= total:
        return train_dataset
    pick = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n_rows]
    return train_dataset.copy(train_dataset.inter_feat[pick])


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    use_cuda = torch.cuda.is_available() and not args.cpu
    preset = args.preset or ("paper" if use_cuda else "tiny")
    base = {**PRESETS[preset], "use_gpu": use_cuda, "show_progress": False, "epochs": 1, "train_mode": "prefix",
            "graph_cache_dir": args.graph_cache_dir, "checkpoint_dir": args.graph_cache_dir}
    if args.data_path:
        base["data_path"] = args.data_path
    models = ["SASRec", "HybridDiscrete"] + ([m for m in HYBRID_MODELS if m != "HybridDiscrete"]
                                             if args.all_hybrids else [])
    variants_spec = [("recbole", "SASRec"), ("recbole-no-anomaly", "SASRec")] + [("fast", m) for m in models]
    if args.compile:
        variants_spec += [("fast-compile", "SASRec"), ("fast-compile", "HybridDiscrete")]

    with bare_argv():
        config0 = build_config("SASRec", args.dataset, [], {**base, "train_batch_size": 256})
    _, train_data, valid_data, _ = load_data(config0)
    full_train = train_data.dataset
    device = torch.device(config0["device"])
    anomaly_at_start = torch.is_anomaly_enabled()

    results, eval_s = [], {}
    for batch in args.batch_sizes:
        rows = sample_rows(full_train, args.steps * batch, config0["seed"])
        variants = []
        for name, model_name in variants_spec:
            with bare_argv():
                config = build_config(model_name, args.dataset, [], {**base, "train_batch_size": batch,
                                                                      "fast_compile": name == "fast-compile"})
            variants.append(Variant(name, model_name, config, full_train, rows))
        for v in variants:  # warm-up epoch (allocator, lazy inits)
            v.epoch(0)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        peaks = {}
        for r in range(args.rounds):
            for v in variants:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                v.timed_epoch(1 + r)
                if device.type == "cuda":
                    peaks[(v.name, v.model_name)] = torch.cuda.max_memory_allocated(device)
        full_steps = -(-len(full_train) // batch)
        for v in variants:
            ms = 1000 * statistics.median(v.times) / v.steps
            entry = {
                "variant": v.name, "model": v.model_name, "batch_size": batch, "steps_timed": v.steps,
                "rounds": args.rounds, "ms_per_step": ms, "ms_per_step_rounds": [1000 * t / v.steps for t in v.times],
                "samples_per_s": batch / ms * 1000, "steps_per_epoch": full_steps,
                "epoch_s": ms * full_steps / 1000,
                "epoch_s_from": "timed full epochs" if rows is full_train else "ms_per_step x steps_per_epoch",
                "peak_cuda_memory_mb": peaks[(v.name, v.model_name)] / 2**20 if peaks else None,
            }
            if not args.no_profile:
                entry.update(v.ops_per_step(1 + args.rounds))
            if v.model_name not in eval_s:
                start = time.perf_counter()
                evaluate_full(v.config, v.model, full_train, valid_data)
                sync(device)
                eval_s[v.model_name] = time.perf_counter() - start
            results.append(entry)
            print(f"B={batch:5d} {v.name:19s} {v.model_name:17s} {ms:9.2f} ms/step  {entry['epoch_s']:8.2f} s/epoch",
                  flush=True)

    return {
        "benchmark": "train_speed",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device_name(device),
        "command": ["python", "benchmarks/train_speed.py", *sys.argv[1:]],
        "versions": versions(),
        "dataset": args.dataset,
        "train_rows": len(full_train),
        "preset": preset,
        "settings": {k: config0[k] for k in ("MAX_ITEM_LIST_LENGTH", "hidden_size", "inner_size", "n_layers",
                                             "n_heads", "learning_rate", "seed", "eval_batch_size")},
        "torch_threads": torch.get_num_threads(),
        "anomaly_detection_at_start": anomaly_at_start,
        "results": results,
        "eval_full_ranking_s": eval_s,
        "ratios": ratios(results),
        "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def ratios(results: list[dict]) -> dict:
    """Epoch-time ratios per batch size: each fast model against stock SASRec, and the hybrid over fast SASRec."""
    out = {}
    for batch in sorted({r["batch_size"] for r in results}):
        rows = {(r["variant"], r["model"]): r["epoch_s"] for r in results if r["batch_size"] == batch}
        stock, plain = rows[("recbole", "SASRec")], rows[("recbole-no-anomaly", "SASRec")]
        fast_sasrec = rows[("fast", "SASRec")]
        fast = {(v.replace("-", "_"), m): t for (v, m), t in rows.items() if v.startswith("fast")}
        entry = {f"{v}_{m}_over_recbole_SASRec": t / stock for (v, m), t in fast.items()}
        entry.update({f"{v}_{m}_over_recbole_no_anomaly_SASRec": t / plain for (v, m), t in fast.items()})
        entry.update({f"{v}_{m}_over_fast_SASRec": t / fast_sasrec for (v, m), t in fast.items()
                      if (v, m) != ("fast", "SASRec")})
        out[str(batch)] = entry
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--data_path", default=None, help="folder holding <dataset>/ (not needed for ml-100k)")
    p.add_argument("--batch_sizes", default=[256, 2048], type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--steps", type=int, default=20, help="steps per timed epoch; 0 times full epochs")
    p.add_argument("--rounds", type=int, default=3, help="timed epochs per variant (median kept)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="default: paper on CUDA, tiny on CPU")
    p.add_argument("--all_hybrids", action="store_true", help="also the other three hybrids")
    p.add_argument("--compile", action="store_true", help="also the fast trainer with torch.compile")
    p.add_argument("--cpu", action="store_true", help="run on CPU even when CUDA is there")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no_profile", action="store_true", help="skip the per-step kernel / op count")
    p.add_argument("--graph_cache_dir", default=str(ROOT / "saved" / "graph_cache"))
    p.add_argument("--out", default=None, help="JSON path (default results/benchmarks/train_speed-<device>.json)")
    args = p.parse_args(argv)
    if args.steps < 0 or args.rounds < 1 or any(b < 1 for b in args.batch_sizes):
        p.error("--steps must be >= 0, --rounds >= 1 and every batch size >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    kind = "cuda" if record["device"].startswith("NVIDIA") else "cpu"
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"train_speed-{kind}-{args.dataset}.json")
    write_json(out, record)
    for batch, entry in record["ratios"].items():
        print(f"B={batch}: " + "  ".join(f"{k} {v:.3f}" for k, v in entry.items()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
