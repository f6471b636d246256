"""Dataset commands.

    recbole-hybrid data prepare --ratings=path/to/ml-1m.zip|ratings.dat [--out=dataset] [--name=ml-1m]
    recbole-hybrid data check --dataset=ml-1m [--data_path=dataset] [--expect_users=6034] [--key=value ...]

(``python -m recbole_hybrid data`` is the same command.)

``prepare`` writes RecBole atomic files from the GroupLens MovieLens-1M download (``UserID::MovieID::Rating::
Timestamp`` lines, ISO-8859-1), for users who are offline or want their own copy; RecBole downloads ML-1M itself
when online. With the zip, ``movies.dat`` and ``users.dat`` become the ``.item`` and ``.user`` files as well.

``check`` loads a dataset exactly as a run does (the dataset's property file: rating and user filters) and prints
users, items, interactions, the distribution of history lengths and RecBole's sequence rows per split (their total
is what a run records as ``interactions``); it exits with status 1 when an expectation
(``--expect_users``, ``--expect_items``, ``--expect_interactions``) does not hold. Other ``--key=value`` flags are
RecBole settings, as for ``recbole-hybrid run``.
"""

from __future__ import annotations

import sys

from recbole_hybrid.data.movielens import ExpectationError, check_dataset, prepare
from recbole_hybrid.utils.flags import add_config_files, command_parser, parse_command


def main(argv: list[str]) -> int:
    """``recbole-hybrid data prepare|check ...``; returns the exit status (user mistakes raise)."""
    summary, details = __doc__.split("\n\n", 1)
    parser = command_parser("recbole-hybrid data", f"{summary}\n\n{details}", settings=False)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", allow_abbrev=False,
                            help="write RecBole atomic files from the GroupLens ML-1M download")
    p.add_argument("--ratings", required=True, help="ml-1m.zip or its ratings.dat")
    p.add_argument("--out", default="dataset", help="data_path folder (default: dataset)")
    p.add_argument("--name", default="ml-1m", help="dataset name (default: ml-1m)")
    check = commands.add_parser("check", allow_abbrev=False,
                                help="print a dataset's size after the protocol's filters; check it",
                                epilog="Other --key=value flags are RecBole settings, as for recbole-hybrid run.")
    check.add_argument("--dataset", required=True)
    check.add_argument("--data_path", help="folder holding <dataset>/<dataset>.inter")
    add_config_files(check)
    for key in ("users", "items", "interactions"):
        check.add_argument(f"--expect_{key}", type=int, help=f"fail unless the dataset has this many {key}")
    args, settings = parse_command(parser, argv, settings=argv[:1] == ["check"])
    if args.command == "prepare":
        for path in prepare(args.ratings, args.out, args.name):
            print(f"wrote {path}")
        return 0
    if args.data_path:
        settings["data_path"] = args.data_path
    try:
        check_dataset(args.dataset, args.config_files, settings,
                      expect={"users": args.expect_users, "items": args.expect_items,
                              "interactions": args.expect_interactions})
    except ExpectationError as err:
        print(f"check failed: {err}", file=sys.stderr)
        return 1
    return 0
