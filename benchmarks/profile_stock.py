"""Where stock RecBole's SASRec training time goes, in one process: data pipeline, anomaly detection, threads.

    python benchmarks/profile_stock.py [--batch_size=2048] [--rounds=3] [--out=results/benchmarks/x.json]

On ml-100k with the tests' tiny settings it times, interleaved over rounds (median kept):
  - one epoch of RecBole's training ``DataLoader`` alone (index, ``Interaction``, collate) against the fast
    trainer's batch gathering from device-resident rows;
  - one training step (forward, backward, Adam) with autograd anomaly detection on (as RecBole leaves it) and off,
    at 1 thread and at torch's default thread count;
  - the share of the NaN checks of anomaly detection (``aten::isnan``/``ne`` and ``aten::any`` in backward) in a
    profiled step; and the time to build RecBole's ``Trainer`` (logger, tensorboard writer, optimiser).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.trainer.fast import FastTrainer, recbole_epoch_order
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data

ROOT = Path(__file__).resolve().parent.parent  # the checkout: default output folders (the package is installed)

TINY = {"MAX_ITEM_LIST_LENGTH": 20, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 2,
        "use_gpu": False, "show_progress": False, "epochs": 1, "train_mode": "prefix"}


def median_time(fn, rounds: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch_size", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    p.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "profile_stock-cpu-ml-100k.json"))
    args = p.parse_args(argv)
    default_threads = torch.get_num_threads()

    with bare_argv():
        config = build_config("SASRec", "ml-100k", [], {**TINY, "train_batch_size": args.batch_size,
                                                        "checkpoint_dir": str(ROOT / "saved")})
    _, train_data, _, _ = load_data(config)
    anomaly_after_import = torch.is_anomaly_enabled()
    init_seed(config["seed"], config["reproducibility"])
    model = resolve_model("SASRec")(config, train_data.dataset)
    start = time.perf_counter()
    trainer = Trainer(config, model)
    trainer_init_s = time.perf_counter() - start
    fast = FastTrainer(config, model, train_data)
    out: dict = {"trainer_init_s": trainer_init_s, "anomaly_enabled_after_importing_recbole": anomaly_after_import}

    # Data pipeline alone, one epoch: RecBole's loader against gathering the same batches from resident rows.
    def recbole_batches():
        for _ in train_data:
            pass

    def fast_batches():
        order = recbole_epoch_order(torch.Generator().manual_seed(0), fast.n_rows)
        for start in range(0, fast.n_rows, fast.batch_size):
            fast.batch(order[start:start + fast.batch_size])

    for name, fn in (("recbole_dataloader_epoch_s", recbole_batches), ("fast_batches_epoch_s", fast_batches)):
        out[name], out[name + "_rounds"] = median_time(fn, args.rounds)
    out["steps_per_epoch"] = len(train_data)

    batch = next(iter(train_data))
    optimizer = trainer.optimizer

    def steps():
        for _ in range(args.steps):
            optimizer.zero_grad()
            model.calculate_loss(batch).backward()
            optimizer.step()

    model.train()
    step_ms: dict[str, list[float]] = {}
    settings = [(threads, anomaly) for threads in sorted({1, default_threads}) for anomaly in (True, False)]
    steps()  # warm-up
    for _ in range(args.rounds):  # interleaved, so that load changes hit every setting alike
        for threads, anomaly in settings:
            torch.set_num_threads(threads)
            with torch.autograd.set_detect_anomaly(anomaly):
                _, (seconds,) = median_time(steps, 1)
            step_ms.setdefault(f"threads{threads}_anomaly_{'on' if anomaly else 'off'}", []).append(
                1000 * seconds / args.steps)
    out["step_ms"] = {k: statistics.median(v) for k, v in step_ms.items()}
    out["step_ms_rounds"] = step_ms

    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(default_threads)
    with torch.autograd.set_detect_anomaly(True), profile(activities=[ProfilerActivity.CPU]) as prof:
        steps()
    ops = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    nan_checks = sum(ops.get(k, 0.0) for k in ("aten::isnan", "aten::ne", "aten::any"))
    out["anomaly_on_profiled_self_cpu_ms"] = sum(ops.values()) / 1000
    out["anomaly_on_nan_check_share"] = nan_checks / sum(ops.values())

    record = {
        "benchmark": "profile_stock",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device_name("cpu"),
        "command": ["python", "benchmarks/profile_stock.py", *sys.argv[1:]],
        "versions": versions(),
        "dataset": "ml-100k",
        "settings": {**{k: config[k] for k in TINY if k not in ("use_gpu", "show_progress", "epochs")},
                     "train_batch_size": args.batch_size, "seed": config["seed"], "steps": args.steps,
                     "rounds": args.rounds, "default_threads": default_threads},
        **out,
    }
    write_json(args.out, record)
    for key, value in out.items():
        if not key.endswith("_rounds"):
            print(f"{key}: {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
