"""``recbole-hybrid``: the console entry, and the one place where user mistakes are caught.

    recbole-hybrid run --model=HybridDiscrete --dataset=ml-1m [--config_files=...] [--key=value ...]
    recbole-hybrid run --resume=saved/<run_id>
    recbole-hybrid experiments paper|quick|pipeline|tuned|analyze ...
    recbole-hybrid data prepare|check ...
    recbole-hybrid recommend --checkpoint=... --users=...
    recbole-hybrid tune --model=... --space=...
    recbole-hybrid demo [--key=value ...]

``recbole-hybrid COMMAND --help`` describes each command. Every command follows one convention (``utils/flags.py``):
its own options, then RecBole settings as ``--key=value``. A user mistake (``errors.UsageError``: a setting, a
file, a run folder) ends the command with one line, ``recbole-hybrid COMMAND: error: ...``, and exit status 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable

from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.flags import command_parser

#: command -> (``module:function`` taking the argument list and returning the exit status, one-line summary).
COMMANDS = {
    "run": ("recbole_hybrid.cli.run:main", "train, validate and test one model (RecBole's run_recbole.py)"),
    "experiments": ("recbole_hybrid.cli.experiments:main", "SASRec against the hybrids over seeds; analysis"),
    "data": ("recbole_hybrid.cli.data:main", "prepare MovieLens-1M atomic files; check a dataset's size"),
    "recommend": ("recbole_hybrid.cli.recommend:main", "top-k items per user from a saved model"),
    "tune": ("recbole_hybrid.cli.tune:main", "hyper-parameter search with Ray Tune (the tune extra)"),
    "demo": ("recbole_hybrid.cli.demo:main", "SASRec and every hybrid on ml-100k, a smoke run (make demo)"),
}

#: User mistakes, printed as one line: the project's own, and the operating system's about named paths.
USER_ERRORS = (UsageError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def run_command(name: str, function: Callable[[list[str]], object], argv: list[str]) -> int:
    """Run one command; a user mistake becomes one line on stderr and exit status 2, argparse's exits their status.

    ``function`` returns the exit status (``None`` counts as 0).
    """
    try:
        status = function(argv)
        return status if isinstance(status, int) else 0
    except USER_ERRORS as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"recbole-hybrid{' ' + name if name else ''}: error: {message}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # argparse: --help (0) or a malformed option (2, after its usage line)
        return exit_.code if isinstance(exit_.code, int) else 2


def load(target: str) -> Callable[[list[str]], int | None]:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def main(argv: list[str] | None = None) -> int:
    """``recbole-hybrid COMMAND ...``; returns the exit status (the console script exits with it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        try:
            function = load(COMMANDS[argv[0]][0])
        except ImportError as err:  # an optional extra (tune: Ray) that is not installed
            print(f"recbole-hybrid {argv[0]}: error: {err} (pip install \"recbole-hybrid[tune]\" for tune)",
                  file=sys.stderr)
            return 2
        return run_command(argv[0], function, argv[1:])
    parser = command_parser("recbole-hybrid", "Length-adaptive hybrid SASRec models on RecBole: train, compare, "
                            "recommend, tune.", settings=False)
    parser.epilog = "commands:\n" + "\n".join(f"  {name:<12} {summary}" for name, (_, summary) in COMMANDS.items()) \
        + "\n\n'recbole-hybrid COMMAND --help' describes a command."
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help=", ".join(COMMANDS))
    parser.add_argument("--version", action="version", version=f"recbole-hybrid {_version()}")
    return run_command("", parser.parse_args, argv)  # no command: --help, --version or argparse's error


def _version() -> str:
    from recbole_hybrid.version import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
