"""Print the README's markdown table from a ``train_speed.py`` JSON file.

    python benchmarks/speed_table.py results/benchmarks/train_speed-cpu-ml-100k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(record: dict) -> str:
    """One row per (batch size, variant, model): ms/step, samples/s, s/epoch, ratio to stock SASRec, ops/step."""
    ops_key = "cuda_kernels_per_step" if record["device"].startswith("NVIDIA") else "cpu_ops_per_step"
    lines = [
        f"{record['device']}, {record['dataset']} ({record['train_rows']} training rows), preset {record['preset']}, "
        f"seed {record['settings']['seed']}, torch threads {record['torch_threads']}, {record['date']}",
        "",
        f"| batch | trainer | model | ms/step | samples/s | s/epoch | epoch vs stock SASRec | {ops_key.replace('_', ' ')} |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    stock = {r["batch_size"]: r["epoch_s"] for r in record["results"]
             if r["variant"] == "recbole" and r["model"] == "SASRec"}
    for r in record["results"]:
        ops = r.get(ops_key)
        lines.append(
            f"| {r['batch_size']} | {r['variant']} | {r['model']} | {r['ms_per_step']:.1f} | "
            f"{r['samples_per_s']:.0f} | {r['epoch_s']:.1f} | {r['epoch_s'] / stock[r['batch_size']]:.2f} | "
            f"{'' if ops is None else f'{ops:.0f}'} |")
    evals = ", ".join(f"{m} {s:.2f} s" for m, s in record["eval_full_ranking_s"].items())
    lines += ["", f"Full-ranking validation (RecBole's `Trainer.evaluate`): {evals}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(json.loads(Path(sys.argv[1]).read_text())))
