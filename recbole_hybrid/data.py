"""Dataset commands: ``python -m recbole_hybrid.data check --dataset=ml-1m [--expect_users=6034]``.

``check`` loads the dataset exactly as a run does (the dataset's property file: rating and user filters) and prints
users, items, interactions and the distribution of history lengths; it exits with status 1 when an expectation
(``--expect_users``, ``--expect_items``, ``--expect_interactions``) does not hold.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

import numpy as np

from recbole_hybrid.atomic import AtomicFileError
from recbole_hybrid.config import ConfigError, build_config, parse_value

PERCENTILES = (5, 25, 50, 75, 95)

warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\..*")


class ExpectationError(ValueError):
    """The dataset does not have the expected size; the message names each count that differs."""


def check_dataset(dataset: str, config_files: list[str] | None = None, overrides: dict[str, Any] | None = None,
                  expect: dict[str, int] | None = None, log=print) -> dict[str, Any]:
    """Load ``dataset`` with its protocol's filters; report and check its size and history lengths.

    Args:
        expect: expected ``users``, ``items`` and/or ``interactions`` (after the filters).
    Returns:
        ``{"users", "items", "interactions", "history_length": {"min", "max", "mean", "p5", ..., "short", "mid",
        "long"}}``. ``L`` is a user's history before the test target (interactions after the filters, minus one),
        the length the analysis groups by: short / mid / long count users with ``L <= L_short``,
        ``L_short < L <= L_long`` and ``L > L_long``.
    Raises:
        ExpectationError: when a count differs from ``expect``.
    """
    from recbole.data import create_dataset

    from recbole_hybrid.atomic import check_dataset_files

    config = build_config("SASRec", dataset, config_files, overrides)
    if dataset != "ml-100k" and not config["allow_download"]:
        check_dataset_files(config)
    data = create_dataset(config)
    users = data.inter_feat[data.uid_field].to_numpy()
    counts = np.bincount(users)[1:]  # id 0 is RecBole's padding user
    lengths = counts[counts > 0] - 1  # leave-one-out: the last interaction is the test target
    L_short, L_long = config["L_short"], config["L_long"]
    report = {
        "users": len(lengths), "items": data.item_num - 1, "interactions": int(len(users)),
        "history_length": {
            "min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean()),
            **{f"p{p}": float(np.percentile(lengths, p)) for p in PERCENTILES},
            "short": int((lengths <= L_short).sum()), "mid": int(((lengths > L_short) & (lengths <= L_long)).sum()),
            "long": int((lengths > L_long).sum()),
        },
    }
    h = report["history_length"]
    log(f"{dataset} ({config['data_path']}): {report['users']} users, {report['items']} items, "
        f"{report['interactions']} interactions after val_interval={config['val_interval']}, "
        f"user_inter_num_interval={config['user_inter_num_interval']}")
    log(f"history length L before the test target: min {h['min']}, max {h['max']}, mean {h['mean']:.1f}, "
        + ", ".join(f"p{p} {h[f'p{p}']:g}" for p in PERCENTILES))
    log(f"users by length: short (L<={L_short}) {h['short']}, mid ({L_short}<L<={L_long}) {h['mid']}, "
        f"long (L>{L_long}) {h['long']}")
    wrong = [f"{key}: expected {value}, found {report[key]}" for key, value in (expect or {}).items()
             if value is not None and report[key] != value]
    if wrong:
        raise ExpectationError(f"{dataset}: " + "; ".join(wrong))
    return report


def main(argv: list[str]) -> int:
    """``python -m recbole_hybrid.data SUBCOMMAND ...``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m recbole_hybrid.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="print a dataset's size after the protocol's filters; check it")
    check.add_argument("--dataset", required=True)
    check.add_argument("--data_path", help="folder holding <dataset>/<dataset>.inter")
    check.add_argument("--config_files", default="", help="extra property files, space or comma separated")
    for key in ("users", "items", "interactions"):
        check.add_argument(f"--expect_{key}", type=int, help=f"fail unless the dataset has this many {key}")
    check.add_argument("overrides", nargs="*", help="RecBole settings as key=value")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.overrides:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep:
            parser.error(f"cannot read {item!r}: write settings as key=value")
        overrides[key] = parse_value(value)
    if args.data_path:
        overrides["data_path"] = args.data_path
    files = [f for f in args.config_files.replace(",", " ").split() if f]
    try:
        check_dataset(args.dataset, files, overrides, expect={"users": args.expect_users, "items": args.expect_items,
                                                              "interactions": args.expect_interactions})
    except ExpectationError as err:
        print(f"check failed: {err}", file=sys.stderr)
        return 1
    except (ConfigError, AtomicFileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
