"""Compare the records and ranks of the same runs made by two checkouts (before and after a restructure).

    python results/checks/compare_records.py BEFORE_RUNS_DIR AFTER_RUNS_DIR

Each run is matched by model; everything but timing, dates, paths, versions and the run id must be equal, and
every ranks array identical. Prints one line per run and exits 1 on any difference.
"""

import json
import sys
from pathlib import Path

import numpy as np

#: Keys that name when, where and how fast a run was made, not what it computed.
VOLATILE = {"run_id", "date", "train_time_s", "eval_time_s", "time_s", "versions", "device", "command",
            "invocation", "checkpoint", "ranks_file", "results_dir", "checkpoint_dir", "data_path",
            "graph_cache_dir", "seconds", "epoch_time_s", "time", "wall_s", "started"}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE and not k.endswith("_s")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def by_model(folder: Path) -> dict:
    return {json.loads(p.read_text())["model"]: p for p in sorted(folder.glob("*.json"))}


def main(before: str, after: str) -> int:
    old, new = by_model(Path(before)), by_model(Path(after))
    bad = 0
    for model in sorted(set(old) | set(new)):
        if model not in old or model not in new:
            print(f"{model}: only in {'before' if model in old else 'after'}")
            bad += 1
            continue
        a, b = strip(json.loads(old[model].read_text())), strip(json.loads(new[model].read_text()))
        ra, rb = np.load(old[model].with_suffix(".ranks.npz")), np.load(new[model].with_suffix(".ranks.npz"))
        keys = [k for k in a if a.get(k) != b.get(k)] + [k for k in b if k not in a]
        arrays = [k for k in set(ra.files) | set(rb.files) if k not in ra.files or k not in rb.files
                  or not np.array_equal(ra[k], rb[k])]
        same = not keys and not arrays
        bad += not same
        print(f"{model}: {'identical' if same else 'DIFFERENT'} (test ndcg@10 {a['test']['ndcg@10']:.6f} vs "
              f"{b['test']['ndcg@10']:.6f}; {len(ra.files)} ranks arrays)"
              + ("" if same else f"; keys {keys}; arrays {arrays}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
