"""The command-line convention of every ``recbole-hybrid`` command: argparse options plus RecBole ``--key=value``.

Each command declares its own options with ``command_parser`` (argparse: ``--help``, types, choices). Whatever is
left over must be RecBole settings written ``--key=value``; ``read_settings`` is the one reader of them: values are
Python literals when they parse as one (``--topk=[5,10]``, ``--lr=1e-3``, ``--use_gpu=False``), else strings, and
the short names researchers use (``--lr``, ``--d_model``, ...) become RecBole's keys. ``--config_files`` takes a
space- or comma-separated list and may be repeated.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any

from recbole_hybrid.utils.errors import UsageError

#: Names researchers use (seed workflow) -> RecBole's keys.
SHORT_FLAGS = {
    "epochs": "epochs",
    "patience": "stopping_step",
    "batch_size": "train_batch_size",
    "lr": "learning_rate",
    "d_model": "hidden_size",
    "n_heads": "n_heads",
    "n_blocks": "n_layers",
    "L_short": "L_short",
    "L_long": "L_long",
    "seed": "seed",
}

SETTINGS_HELP = """RecBole settings: any other --key=value is a RecBole setting of the run (it beats the property files and
--config_files), e.g. --epochs=50 --train_batch_size=256 --topk=[5,10,20] --use_gpu=False. Values are Python
literals when they parse as one, else strings. Short names: --patience (stopping_step), --batch_size
(train_batch_size), --lr (learning_rate), --d_model (hidden_size), --n_blocks (n_layers); --epochs, --n_heads,
--L_short, --L_long and --seed are RecBole's own names."""


def parse_value(text: str) -> Any:
    """A command-line value as RecBole reads it: a Python literal when it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text


def split_files(text: str) -> list[str]:
    """``"a.yaml b.yaml"`` or ``"a.yaml,b.yaml"`` -> ``["a.yaml", "b.yaml"]``."""
    return [f for f in text.replace(",", " ").split() if f]


def read_settings(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Read ``--config_files=... --key=value ...`` into config files and RecBole settings (RecBole's keys).

    Raises:
        UsageError: naming the first argument that is not written ``--key=value``.
    """
    files: list[str] = []
    settings: dict[str, Any] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg or arg.startswith("--="):
            raise UsageError(f"cannot read argument {arg!r}: write settings as --key=value")
        key, value = arg[2:].split("=", 1)
        if key == "config_files":
            files += split_files(value)
        else:
            settings[SHORT_FLAGS.get(key, key)] = parse_value(value)
    return files, settings


def command_parser(prog: str, description: str, settings: bool = True) -> argparse.ArgumentParser:
    """An argparse parser in the project's style; with ``settings`` it takes ``--config_files`` and RecBole settings.

    Options are matched by their full name only (``--mod`` is not ``--models``), so that a RecBole setting can never
    be mistaken for an abbreviated option.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=SETTINGS_HELP if settings else None)
    if settings:
        add_config_files(parser)
    return parser


def add_config_files(parser: argparse.ArgumentParser) -> None:
    """``--config_files``: extra property files (space- or comma-separated, repeatable), above the plugin's own."""
    parser.add_argument("--config_files", action="extend", type=split_files, default=[], metavar="FILES",
                        help="property files above the plugin's (space- or comma-separated, repeatable)")


def parse_command(parser: argparse.ArgumentParser, argv: list[str],
                  settings: bool = True) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parse a command's own options; with ``settings`` every other argument must be a RecBole ``--key=value``.

    Returns the namespace (``config_files`` extended by any read among the settings) and the settings (RecBole
    keys). Without ``settings`` leftover arguments end in argparse's ``unrecognized arguments`` error.
    """
    args, rest = parser.parse_known_args(argv)
    if not settings:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args, {}
    files, values = read_settings(rest)
    args.config_files = [*getattr(args, "config_files", []), *files]
    return args, values


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return int(text)
