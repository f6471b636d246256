"""Peak memory of one training step of a model on its longest windows: will two trials fit beside each other?

    python benchmarks/peak_memory.py --data_path=DIR --model=HybridContinuous [--set key=value ...]
        [--alpha_from=results/runs/<run>.alpha.json] [--out=results/benchmarks/peak_memory-ml-1m.json]

Settings: ``configs/ml-1m/2026-11-27-literature-target.yaml`` with the ``--set`` overrides (each a YAML value),
sequence mode. The process loads the data, builds the model and its ``SequenceTrainer``, and runs one forward and
backward pass on the ``train_batch_size`` longest windows (the step whose activations are largest), then reports
the process's peak resident memory (``ru_maxrss``) before and after that step. With ``--alpha_from``, a
HybridContinuous's ``a(L)`` takes the values of a trained run's committed curve (its gradient still flows through
the policy), so the step cuts its windows into as many ``a`` groups as that trained model did: the untrained
policy's near-flat curve forms few groups and would understate the memory of a trial that has trained.
Each measurement is a fresh process (``--worker``), so one model's peak does not hide another's. Writes one JSON
with device, date, seed and command; runs are appended under their label.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature-target.yaml"


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def worker(model_name: str, data_path: str, overrides: dict, alpha_from: str | None, seed: int) -> dict:
    """One process: peak RSS after set-up and after one step on the longest windows."""
    import torch

    torch.set_num_threads(1)  # a study trial's one thread
    from recbole_hybrid.config import build_config, resolve_model
    from recbole_hybrid.quick_start.runner import load_data
    from recbole_hybrid.trainer.positions import SequencePositions
    from recbole_hybrid.trainer.sequence import SequenceTrainer
    from recbole_hybrid.utils.compat import bare_argv, init_seed

    with bare_argv():
        config = build_config(model_name, "ml-1m", [str(CONFIG)], {"data_path": data_path, "seed": seed,
                                                                   "use_gpu": False, **overrides})
    _dataset, train_data, _valid, _test = load_data(config)
    init_seed(seed, config["reproducibility"])
    model = resolve_model(model_name)(config, train_data.dataset)
    if alpha_from:
        _pin_alpha(model, json.loads(Path(alpha_from).read_text()))
    trainer = SequenceTrainer(config, model, train_data)
    model.train()
    setup = _peak_gib()
    rows = torch.sort(trainer.window_length, descending=True, stable=True).indices[:trainer.batch_size]
    groups = _groups(trainer.positions, trainer.windows, rows)
    start = time.perf_counter()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.batch_loss(rows.to(trainer.device)).backward()
    return {"setup_peak_gib": setup, "step_peak_gib": _peak_gib(), "step_s": time.perf_counter() - start,
            "alpha_groups": groups, "windows": int(rows.numel()),
            "width": int(trainer.window_length[rows].max())}


def _pin_alpha(model, record: dict) -> None:
    """``a(L)`` of ``model`` becomes the record's curve (lengths past it keep its last value), plus ``0 * policy(L)``
    so that the policy's parameters still get a gradient and positions still route it."""
    import torch

    policy = model.fusion.alpha_policy
    curve = torch.tensor(record["alpha"], dtype=torch.float32)
    original = policy.forward

    def pinned(lengths: torch.Tensor) -> torch.Tensor:
        index = (lengths.clamp(min=1, max=len(curve)) - 1).cpu()
        return curve[index].to(lengths.device) + 0 * original(lengths)

    policy.forward = pinned


def _groups(positions: SequencePositions, windows, rows) -> int | None:
    """The number of ``a`` groups the model's positions are cut into (None for SASRec)."""
    import torch

    from recbole_hybrid.trainer.positions import alpha_groups

    if not positions.hybrid:
        return None
    model = positions.model
    lengths = torch.arange(1, model.max_seq_length + 1)
    with torch.no_grad():
        _, representative = alpha_groups(model.fusion.alpha_policy(lengths), positions.tolerance)
    return int(representative.numel())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_path", required=True, help="folder holding ml-1m/ml-1m.inter")
    parser.add_argument("--model", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, its value read as YAML (repeatable)")
    parser.add_argument("--alpha_from", default=None, help="a run's .alpha.json: a(L) pinned to its curve")
    parser.add_argument("--label", default=None, help="the run's name in the JSON (default: model and overrides)")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", default="results/benchmarks/peak_memory-ml-1m.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set {item!r}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    if args.alpha_from and not Path(args.alpha_from).is_file():
        parser.error(f"--alpha_from {args.alpha_from}: no such file")
    if args.worker:
        print(json.dumps(worker(args.model, args.data_path, overrides, args.alpha_from, args.seed)))
        return
    command = [sys.executable, __file__, "--worker", *sys.argv[1:]] if argv is None else \
        [sys.executable, __file__, "--worker", *argv]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"peak_memory: the worker failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    label = args.label or " ".join([args.model, *args.set] + (["alpha pinned"] if args.alpha_from else []))
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {
        "benchmark": "peak_memory", "config": str(CONFIG.relative_to(ROOT)), "threads": 1, "runs": {}}
    from recbole_hybrid.utils.records import device_name, versions, write_json

    record["runs"][label] = {"model": args.model, "overrides": overrides, "alpha_from": args.alpha_from,
                             "seed": args.seed, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "device": device_name("cpu"), "versions": versions(),
                             "command": ["python", "benchmarks/peak_memory.py",
                                         *(sys.argv[1:] if argv is None else argv)], **result}
    write_json(out, record)
    print(f"{label}: peak {result['step_peak_gib']:.2f} GiB after one step on {result['windows']} windows of width "
          f"{result['width']} ({result['alpha_groups']} a groups), {result['step_s']:.1f} s; set-up "
          f"{result['setup_peak_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
