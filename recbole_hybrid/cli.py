"""``run.py``'s command line: bad input ends with one clear line instead of a traceback."""

from __future__ import annotations

import sys

from recbole_hybrid.atomic import AtomicFileError
from recbole_hybrid.config import ConfigError, parse_cli
from recbole_hybrid.finite import NonFiniteLossError
from recbole_hybrid.runner import resume_run, run_experiment

USAGE = """usage: python run.py --model=NAME --dataset=NAME [--config_files="a.yaml b.yaml"] [--key=value ...]
       python run.py --resume=RUN_DIR

--model     HybridFixed | HybridDiscrete | HybridLearnable | HybridContinuous | any RecBole sequential model
--dataset   ml-100k (shipped with RecBole) | ml-1m | ml-1m-sasrec | any atomic dataset under --data_path
short flags --epochs --patience (stopping_step) --batch_size (train_batch_size) --lr (learning_rate)
            --d_model (hidden_size) --n_heads --n_blocks (n_layers) --L_short --L_long --seed
--trainer   auto (default: the fast trainer wherever it supports the config) | fast | recbole
--filter_seen=True   select on validation NDCG@10 with each user's seen items excluded (both are always reported)
--resume    continue an interrupted run from its folder saved/<run_id>"""

USER_ERRORS = (ConfigError, AtomicFileError, FileNotFoundError, PermissionError, ValueError, NonFiniteLossError)


def main(argv: list[str]) -> int:
    """Run one experiment from ``--key=value`` flags; return the process exit code."""
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    try:
        resume = [a.split("=", 1)[1] for a in argv if a.startswith("--resume=")]
        if resume:
            resume_run(resume[0])
        else:
            model, dataset, files, overrides = parse_cli(argv)
            run_experiment(model, dataset, files, overrides)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
