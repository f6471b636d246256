"""``run.py``'s command line: bad input ends with one clear line instead of a traceback."""

from __future__ import annotations

import sys

from recbole_hybrid.atomic import AtomicFileError
from recbole_hybrid.config import ConfigError, parse_cli
from recbole_hybrid.runner import resume_run, run_experiment

USER_ERRORS = (ConfigError, AtomicFileError, FileNotFoundError, PermissionError, ValueError)


def main(argv: list[str]) -> int:
    """Run one experiment from ``--key=value`` flags; return the process exit code."""
    if any(a in ("-h", "--help") for a in argv):
        import run  # noqa: F401  (its docstring is the help)

        print(sys.modules["run"].__doc__)
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
