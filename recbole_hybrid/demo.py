"""``python -m recbole_hybrid.demo``: RecBole's SASRec next to the hybrids on ml-100k, through ``run.py``'s path.

Settings come from ``configs/ml-100k/make-demo.yaml``; ``--key=value`` flags override them (e.g. ``--epochs=5``).
"""

from __future__ import annotations

import sys

from recbole_hybrid.config import PROJECT_ROOT, parse_cli
from recbole_hybrid.experiments import MODELS
from recbole_hybrid.runner import run_experiment

DEMO_CONFIG = PROJECT_ROOT / "configs" / "ml-100k" / "make-demo.yaml"


def main(argv: list[str]) -> int:
    _, _, files, overrides = parse_cli(argv)
    records = [run_experiment(model, "ml-100k", [str(DEMO_CONFIG), *files], overrides) for model in MODELS]
    print("\nml-100k demo (test split, full ranking; a smoke run, not a result)")
    print(f"{'model':<18}{'epochs':>7}{'NDCG@10':>10}{'HR@10':>10}{'MRR@10':>10}{'train s':>10}")
    for r in records:
        t = r["test"]
        print(f"{r['model']:<18}{len(r['epochs']):>7}{t['ndcg@10']:>10.4f}{t['hit@10']:>10.4f}{t['mrr@10']:>10.4f}"
              f"{r['train_time_s']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
