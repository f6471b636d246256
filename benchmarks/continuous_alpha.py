"""Does HybridContinuous's a(L) take a length shape in sequence mode, and what does it cost? Old code against new.

Trains HybridContinuous and HybridLearnable on ml-100k as the issue that found the flat a(L) measured it (sequence
mode, length 200, dropout 0.2, 8 epochs, seed 2020), once with each code tree given (``--trees``: checkouts of
this repository, e.g. a ``git worktree`` of the commit before the fix and this one), the trees' runs of one model
side by side (one thread each), and writes each run's a(L) over L = 1..200, its range and its median epoch time:

    python benchmarks/continuous_alpha.py --trees=/tmp/before,. --out=results/benchmarks/continuous_alpha-cpu-ml-100k.json

Epoch times are compared as ratios within this one command (the runs of a pair share the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SETTINGS = ["--dataset=ml-100k", "--train_mode=sequence", "--MAX_ITEM_LIST_LENGTH=200", "--hidden_dropout_prob=0.2",
            "--attn_dropout_prob=0.2", "--epochs=8", "--stopping_step=100", "--seed=2020", "--graph_cache_dir="]
MODELS = ("HybridContinuous", "HybridLearnable")

ALPHA = """
import json, sys, torch
from recbole_hybrid import HYBRID_MODELS
from recbole_hybrid.utils.records import load_checkpoint
record = json.load(open(sys.argv[1]))
class Config(dict):
    def __getitem__(self, key):
        return dict.get(self, key)
policy = HYBRID_MODELS[record["model"]].build_alpha_policy(Config(record["config"]))
state = load_checkpoint(record["checkpoint"])["state_dict"]
prefix = "fusion.alpha_policy."
policy.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
with torch.no_grad():
    print(json.dumps(policy(torch.arange(1, record["config"]["MAX_ITEM_LIST_LENGTH"] + 1)).tolist()))
"""


def commit_of(tree: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", required=True, help="comma-separated checkouts to run from")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for model in MODELS:
            jobs = []
            for i, tree in enumerate(trees):
                folder = Path(work) / f"{model}-{i}"
                command = [sys.executable, "run.py", f"--model={model}", *SETTINGS,
                           f"--results_dir={folder / 'runs'}", f"--checkpoint_dir={folder / 'saved'}"]
                jobs.append((tree, folder, command, subprocess.Popen(command, cwd=tree, env=env,
                                                                     stdout=subprocess.DEVNULL,
                                                                     stderr=subprocess.PIPE, text=True)))
            for tree, folder, command, job in jobs:
                _, err = job.communicate()
                if job.returncode:
                    raise SystemExit(f"{' '.join(command)} in {tree} failed: {err.strip().splitlines()[-1]}")
                record_path = next((folder / "runs").glob("*.json"))
                record = json.loads(record_path.read_text())
                alpha = json.loads(subprocess.run([sys.executable, "-c", ALPHA, str(record_path)], cwd=tree,
                                                  env=env, capture_output=True, text=True, check=True).stdout)
                rows.append({"model": model, "tree": str(tree), "git_commit": commit_of(tree),
                             "alpha_range": max(alpha) - min(alpha), "alpha": alpha,
                             "median_epoch_s": statistics.median(e["train_time_s"] for e in record["epochs"]),
                             "passes_per_epoch": record["epochs"][-1].get("passes"),
                             "test_ndcg@10_filter_seen": record["test_filter_seen"]["ndcg@10"],
                             "device": record["device"]})
                print(f"{model} at {rows[-1]['git_commit'][:7]}: a(L) range {rows[-1]['alpha_range']:.4f}, "
                      f"median epoch {rows[-1]['median_epoch_s']:.1f} s")
    out = {"command": [Path(sys.argv[0]).name, *sys.argv[1:]], "settings": SETTINGS,
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "runs": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
