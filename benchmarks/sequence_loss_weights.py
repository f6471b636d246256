"""How much of an epoch's gradient weight each group of windows carries, under each ``sequence_loss_weight``.

    python benchmarks/sequence_loss_weights.py [--dataset=ml-1m --data_path=dataset] [--epochs=5]
        [--batching=length] [--out=results/benchmarks/sequence_loss_weights-ml-1m.json]

Settings: configs/ml-1m/2026-11-27-literature.yaml (length 200, 128 windows per step, every window). The batches
are the trainer's own (``SequenceTrainer.epoch_batches``, seed 2020, ``--epochs`` epochs in a row). A step's loss is
``sum(CE) * w``; a target's weight ``w`` is ``1 / positions per step on average`` under ``target`` and ``1 / its
step's positions`` under ``batch`` (``SequenceTrainer.batch_loss``; tests/test_sequence_mode.py checks both). Windows
are grouped by their number of targets; for each group: its share of the targets, and its share of the summed weight
under each rule (averaged over the epochs). No model is trained. Writes one JSON file.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from recbole_hybrid.config import build_config, resolve_model
from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.quick_start.runner import load_data
from recbole_hybrid.trainer.sequence import SEQUENCE_LOSS_WEIGHTS, SequenceTrainer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ml-1m" / "2026-11-27-literature.yaml"
#: Groups of windows by their number of targets: (label, lowest, highest).
GROUPS = (("1-30", 1, 30), ("31-100", 31, 100), ("101-199", 101, 199), ("200 (full)", 200, 200))


def target_weights(trainer: SequenceTrainer, rule: str) -> torch.Tensor:
    """``[W]`` summed weight of each window's targets over one epoch of ``trainer.epoch_batches()`` under ``rule``."""
    n = trainer.window_length.double()
    weight = torch.zeros_like(n)
    for rows in trainer.epoch_batches():
        per_target = 1 / trainer.positions_per_step if rule == "target" else 1 / float(n[rows].sum())
        weight[rows] = n[rows] * per_target
    return weight


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--data_path", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batching", default="length", choices=("length", "random"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    config = build_config("SASRec", args.dataset, [str(CONFIG)],
                          {"data_path": args.data_path, "use_gpu": False, "sequence_batching": args.batching})
    _, train, _, _ = load_data(config)
    trainer = SequenceTrainer(config, resolve_model("SASRec")(config, train.dataset), train)
    n = trainer.window_length
    shares = {rule: torch.zeros(len(GROUPS), dtype=torch.float64) for rule in SEQUENCE_LOSS_WEIGHTS}
    for epoch in range(args.epochs):
        for rule in SEQUENCE_LOSS_WEIGHTS:
            trainer.order_generator.manual_seed(config["seed"] + epoch)  # both rules see the same batches
            weight = target_weights(trainer, rule)
            shares[rule] += torch.tensor([float(weight[(n >= lo) & (n <= hi)].sum()) for _, lo, hi in GROUPS])
    groups = []
    for g, (label, lo, hi) in enumerate(GROUPS):
        member = (n >= lo) & (n <= hi)
        groups.append({"targets": label, "windows": int(member.sum()),
                       "target_share": float(n[member].sum()) / float(n.sum()),
                       **{f"weight_share_{rule}": float(shares[rule][g] / shares[rule].sum())
                          for rule in SEQUENCE_LOSS_WEIGHTS}})
        print(groups[-1], flush=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report = {"benchmark": "sequence_loss_weights", "date": now, "device": device_name(torch.device("cpu")),
              "dataset": args.dataset, "config": str(CONFIG.relative_to(ROOT)), "batching": args.batching,
              "epochs": args.epochs, "windows": len(n), "targets": int(n.sum()), "steps_per_epoch": len(trainer),
              "positions_per_step": trainer.positions_per_step, "command": ["python", *sys.argv],
              "versions": versions(), "groups": groups}
    out = Path(args.out or ROOT / "results" / "benchmarks" / f"sequence_loss_weights-{args.dataset}.json")
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
