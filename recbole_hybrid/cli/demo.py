"""``recbole-hybrid demo`` (``make demo``): RecBole's SASRec next to the hybrids on ml-100k, through ``run.py``'s path.

Settings come from ``configs/ml-100k/make-demo.yaml``; ``--key=value`` flags override them (e.g. ``--epochs=5``).
"""

from __future__ import annotations

from pathlib import Path

from recbole_hybrid.quick_start.experiments import MODELS
from recbole_hybrid.quick_start.runner import run_experiment
from recbole_hybrid.utils.flags import command_parser, parse_command

#: Relative to the working folder: ``make demo`` runs it from the checkout, where the file is.
DEMO_CONFIG = Path("configs") / "ml-100k" / "make-demo.yaml"


def main(argv: list[str]) -> int:
    args, overrides = parse_command(command_parser("recbole-hybrid demo", __doc__), argv)
    files = args.config_files
    if not DEMO_CONFIG.is_file():
        raise FileNotFoundError(f"{DEMO_CONFIG} not found: run the demo from the recbole-hybrid checkout (make demo)")
    records = [run_experiment(model, "ml-100k", [str(DEMO_CONFIG), *files], overrides) for model in MODELS]
    print("\nml-100k demo (test split, full ranking; a smoke run, not a result)")
    print(f"{'model':<18}{'epochs':>7}{'NDCG@10':>10}{'HR@10':>10}{'MRR@10':>10}{'train s':>10}")
    for r in records:
        t = r["test"]
        print(f"{r['model']:<18}{len(r['epochs']):>7}{t['ndcg@10']:>10.4f}{t['hit@10']:>10.4f}{t['mrr@10']:>10.4f}"
              f"{r['train_time_s']:>10.1f}")
    return 0
