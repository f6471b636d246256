"""Hyper-parameter search with Ray Tune over a yaml search space (validation NDCG@10 only).

    recbole-hybrid tune --model=HybridDiscrete --dataset=ml-1m --space=hybrid_discrete
        --num_samples=N --gpus_per_trial=F --cpus_per_trial=C [--scheduler=asha|fifo] [--search=random|optuna|grid]
        [--address=auto|HOST:PORT] [--storage_path=DIR|URI] [--name=NAME] [--resume] [--max_concurrent=K]
        [--max_failures=2] [--grace_period=3] [--max_t=EPOCHS] [--reduction_factor=3] [--sequence_only]
        [--rebuild_from=OUT_DIR/trials.csv] [--search_seed=2020] [--num_cpus=N] [--num_gpus=N] [--out_dir=DIR]
        [--tuned_dir=DIR] [--final_test=SEEDS] [--config_files=...] [--key=value ...]

(also ``python tune/search.py ...``). ``--space`` is a file or the name of a shipped space
(``recbole_hybrid/tuning/spaces/``). ``--gpus_per_trial`` defaults to 1 when a Ray node has GPUs, else 0.
``--num_cpus`` / ``--num_gpus`` size a local Ray (without ``--address``). ``--storage_path`` is a folder or a URI
that Ray accepts (``s3://``, ``gs://``, ``file://``). ASHA's horizon is ``--max_t`` epochs (default: the trials'
``epochs``), its rungs ``--grace_period`` times powers of ``--reduction_factor``. ``--sequence_only`` refuses a space
that does not fix ``train_mode: sequence``. ``--resume`` continues a stopped search from its Ray folder; where that
folder is gone, ``--rebuild_from=<out_dir>/trials.csv`` (with the search's options) counts the CSV's finished
trials against ``--num_samples``, tells Optuna and ASHA about them, and runs only the rest. Any other
``--key=value`` is a RecBole setting fixed for every trial (short names as in run.py; ``--seed`` is RecBole's seed).
Writes ``<out_dir>/trials.csv`` and ``<out_dir>/curves.csv`` (rewritten as each trial ends), ``<out_dir>/curves.png``
and ``<tuned_dir>/<Model>-<dataset>.yaml`` (default ``saved/tuned/``; ``out_dir`` defaults to ``saved/tune-results/<name>``).

Trials select on validation NDCG@10 only; ``--final_test`` retrains the best configuration with several seeds through
the experiments pipeline and reports test there, after the search.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from recbole_hybrid.config import ConfigError
from recbole_hybrid.tuning import storage
from recbole_hybrid.tuning.cluster import TuneSetupError
from recbole_hybrid.tuning.search import SearchOptions, run_search
from recbole_hybrid.tuning.space import SpaceError
from recbole_hybrid.utils.flags import command_parser, parse_command

_CHOICES = {"scheduler": ("asha", "fifo"), "search": ("random", "optuna", "grid")}
_FLAG_HELP = {"resume": "continue the interrupted search of --name",
              "sequence_only": "refuse a space or command line that does not fix train_mode: sequence"}


def search_parser() -> argparse.ArgumentParser:
    """The search's own options (one per ``SearchOptions`` field); every other ``--key=value`` is a RecBole setting."""
    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid tune", f"{summary}\n\n{details}")
    types = {"int": int, "float": float, "int | None": int, "float | None": float, "str": str, "str | None": str}
    for name, spec in SearchOptions.__dataclass_fields__.items():
        if name in ("overrides", "config_files"):
            continue
        if spec.type == "bool":
            parser.add_argument(f"--{name}", action="store_true", help=_FLAG_HELP.get(name))
        else:
            parser.add_argument(f"--{name}", type=types[spec.type], default=argparse.SUPPRESS,
                                metavar=name.upper())
    return parser


def parse_search_cli(argv: list[str]) -> SearchOptions:
    """The search's options into ``SearchOptions``; other ``--key=value`` are fixed RecBole settings for all trials."""
    args, overrides = parse_command(search_parser(), argv)
    values: dict[str, Any] = {**vars(args), "overrides": overrides}
    for key, allowed in _CHOICES.items():
        if key in values and values[key] not in allowed:
            raise ConfigError(f"--{key}={values[key]!r}: choose one of {', '.join(allowed)}")
    opts = SearchOptions(**values)
    if (opts.gpus_per_trial is not None and opts.gpus_per_trial < 0) or opts.cpus_per_trial <= 0:
        raise ConfigError("--gpus_per_trial must be >= 0 and --cpus_per_trial > 0")
    if opts.gpus_per_trial is not None and opts.gpus_per_trial > 1 and opts.gpus_per_trial != int(opts.gpus_per_trial):
        raise ConfigError(f"--gpus_per_trial={opts.gpus_per_trial}: use a fraction below 1 or a whole number")
    return opts


USER_ERRORS = (ConfigError, SpaceError, TuneSetupError, storage.StorageError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    """The command line (``recbole-hybrid tune``, ``tune/search.py``); bad input ends with one ``error:`` line and
    exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        run_search(parse_search_cli(argv))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
