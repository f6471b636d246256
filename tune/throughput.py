"""Trial throughput of Ray Tune when trials share a GPU: trials finished per hour at 1, 2, 4 concurrent trials.

    python tune/throughput.py --model=HybridDiscrete --dataset=ml-1m --concurrency=1,2,4
        --trials=8 --epochs=3 [--gpus=1] [--num_cpus=N] [--out=results/tune/throughput.json] [--config_files=...]
        [--key=value ...]

Every level runs the same budget: ``--trials`` trials of one configuration (the model's properties plus the fixed
``--key=value`` settings), differing only in their seed, ``--epochs`` epochs each, FIFO, no early stopping. With
``--gpus=G`` (default: 1 when CUDA is visible, else 0) a level of ``k`` concurrent trials gives each ``G/k`` GPUs
(1, 0.5, 0.25); on CPU each gets ``num_cpus/k`` CPUs. Throughput is trials / ``Tuner.fit`` seconds (Ray's start
excluded), after an uncounted one-trial warm-up. Writes one JSON (and a CSV beside it) with device, date, seeds
and the command. On a GPU, pass --cpus_per_trial so that k trials fit the node's CPUs.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from recbole_hybrid.utils.records import device_name, versions, write_json
from recbole_hybrid.cli.tune import parse_search_cli
from recbole_hybrid.tuning.search import SearchOptions, run_search


def measure(argv: list[str]) -> dict:
    """Run every concurrency level; return the record that is also written to ``--out``."""

    own = {"concurrency": "1,2,4", "trials": "8", "gpus": None, "out": None}
    rest = []
    for arg in argv:
        key = arg[2:].split("=", 1)[0] if arg.startswith("--") and "=" in arg else None
        if key in own:
            own[key] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    levels = [int(k) for k in own["concurrency"].split(",")]
    trials = int(own["trials"])
    gpus = float(own["gpus"]) if own["gpus"] is not None else (1.0 if torch.cuda.is_available() else 0.0)
    base = parse_search_cli(rest)
    cpus = base.num_cpus or os.cpu_count()
    device = device_name("cuda" if gpus > 0 else "cpu")
    out = Path(own["out"] or Path("results") / "tune" / f"throughput-{base.model}-{base.dataset}.json")
    seed0 = base.overrides.pop("seed", 2020)
    levels_out = []
    with tempfile.TemporaryDirectory(prefix="throughput") as tmp:
        space = Path(tmp) / "seeds.yaml"
        space.write_text(f"seed: {{choice: {[seed0 + i for i in range(trials)]}}}\nstopping_step: {10**6}\n")

        def options(k: int, space_file: Path, name: str) -> SearchOptions:
            return SearchOptions(**{**vars(base), "space": str(space_file), "search": "grid", "scheduler": "fifo",
                                    "max_concurrent": k, "gpus_per_trial": gpus / k if gpus else 0.0,
                                    "cpus_per_trial": base.cpus_per_trial if gpus else max(cpus / k, 1e-3),
                                    "name": name, "storage_path": str(Path(tmp) / "ray"),
                                    "out_dir": str(Path(tmp) / name), "tuned_dir": str(Path(tmp) / "tuned")})

        # An uncounted one-trial warm-up first: it builds the graph cache that every later trial reuses, so the
        # first measured level does not pay for it.
        warm = Path(tmp) / "warm.yaml"
        warm.write_text(f"seed: {{choice: [{seed0}]}}\nstopping_step: {10**6}\n")
        run_search(options(1, warm, "warm-up"))
        for k in levels:
            opts = options(k, space, f"throughput-{k}")
            summary = run_search(opts)
            done = [r for r in summary["rows"] if r["status"] == "OK"]
            epoch_s = [r["time_s"] / r["epochs"] for r in done if r["epochs"]]
            levels_out.append({"concurrent": k, "gpus_per_trial": opts.gpus_per_trial,
                               "cpus_per_trial": opts.cpus_per_trial, "trials": len(summary["rows"]),
                               "finished": len(done), "fit_s": summary["fit_s"],
                               "trials_per_hour": len(done) / summary["fit_s"] * 3600,
                               "mean_trial_epoch_s": sum(epoch_s) / len(epoch_s) if epoch_s else None})
            print(f"{k} concurrent: {levels_out[-1]['trials_per_hour']:.1f} trials/hour "
                  f"({len(done)} trials in {summary['fit_s']:.0f} s)")
    one = levels_out[0]["trials_per_hour"]
    for level in levels_out:
        level["speedup_vs_first"] = level["trials_per_hour"] / one
    record = {"what": "Ray Tune trial throughput, same budget per level", "model": base.model,
              "dataset": base.dataset, "device": device,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "seeds": [seed0 + i for i in range(trials)], "settings": base.overrides,
              "command": ["python", "tune/throughput.py", *argv], "versions": versions(),
              "levels": levels_out}
    write_json(out, record)
    with out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(levels_out[0]))
        writer.writeheader()
        writer.writerows(levels_out)
    print(f"written: {out} and {out.with_suffix('.csv')}")
    return record


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    measure(sys.argv[1:])
