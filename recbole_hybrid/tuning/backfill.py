"""The ``ended`` column of a trials CSV written before it existed, recovered from the file's git history.

A search rewrites ``trials.csv`` (sorted by score) and ``curves.csv`` (its trials in the order they ended, after a
rebuilt search's kept rows) each time a trial ends, and a study commits both as they land. So the order in which the
trials ended is in the history: a trial ended before another if its row was committed first, and among rows first
committed together, in the order of that commit's ``curves.csv``. The working copy counts as a last commit.

``ended_from_git`` numbers the finished rows without an ``ended`` value that way, 1 to n: rows from before the column
ended before any numbered row did, so a numbered row at n or below is refused. Nothing here imports Ray.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from recbole_hybrid.utils.trials import FINISHED


class BackfillError(ValueError):
    """A trials CSV whose ``ended`` column cannot be filled from its history (the message names why)."""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackfillError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def _ids(text: str) -> list[str]:
    """The trial ids of a trials or curves CSV's text, each once, in the order the file first names them."""
    return list(dict.fromkeys(row["trial_id"] for row in csv.DictReader(io.StringIO(text))))


def history_order(path: Path) -> dict[str, tuple[int, int]]:
    """``{trial_id: (commit, place)}``: the first commit of ``path``'s history (0 = oldest; the working copy last)
    whose ``path`` holds the trial, and its place in that commit's ``curves.csv`` (file order if it has none)."""
    path = Path(path).resolve()
    root = Path(_git(path.parent, "rev-parse", "--show-toplevel").strip())
    rel, curves_rel = path.relative_to(root).as_posix(), path.with_name("curves.csv").relative_to(root).as_posix()
    commits = _git(root, "log", "--reverse", "--format=%H", "--", rel).split()

    def snapshot(commit: str | None) -> tuple[list[str], list[str]]:
        if commit is None:
            curves = path.with_name("curves.csv")
            return _ids(path.read_text()), _ids(curves.read_text()) if curves.is_file() else []
        listed = _git(root, "ls-tree", "--name-only", commit, "--", curves_rel).strip()
        return (_ids(_git(root, "show", f"{commit}:{rel}")),
                _ids(_git(root, "show", f"{commit}:{curves_rel}")) if listed else [])

    order: dict[str, tuple[int, int]] = {}
    for index, commit in enumerate([*commits, None]):
        rows, curves = snapshot(commit)
        new = [trial for trial in rows if trial not in order]
        ranked = {trial: place for place, trial in enumerate([*(c for c in curves if c in new),
                                                              *(t for t in new if t not in curves)])}
        order.update({trial: (index, ranked[trial]) for trial in new})
    return order


def ended_from_git(path: str | Path) -> int:
    """Fill ``path``'s empty ``ended`` values (finished rows) from its git history, in place, the column added after
    ``time_s`` where it is missing; rows and their text are otherwise kept as they are. Returns how many it filled."""
    path = Path(path)
    if not path.is_file():
        raise BackfillError(f"{path}: no such trials CSV")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows, columns = list(reader), list(reader.fieldnames or [])
    if "trial_id" not in columns or "status" not in columns:
        raise BackfillError(f"{path}: not a trials CSV (no trial_id or status column)")
    if "ended" not in columns:
        columns.insert(columns.index("time_s") + 1 if "time_s" in columns else len(columns), "ended")
    missing = [row for row in rows if row["status"] in FINISHED and row.get("ended") in (None, "")]
    if not missing:
        return 0
    numbered = [int(row["ended"]) for row in rows if row.get("ended") not in (None, "")]
    if numbered and min(numbered) <= len(missing):
        raise BackfillError(f"{path}: {len(missing)} rows without 'ended' but a row numbered {min(numbered)}: the "
                            f"rows from before the column must have ended first")
    order = history_order(path)
    for place, row in enumerate(sorted(missing, key=lambda r: order[r["trial_id"]]), start=1):
        row["ended"] = str(place)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: row.get(k) for k in columns} for row in rows)
    tmp.replace(path)
    return len(missing)


def main(argv: list[str]) -> int:
    """``python tune/ended_from_git.py TRIALS_CSV [...]``: fill each file's ``ended`` column; 2 with a one-line
    error on bad input."""
    if not argv or any(a.startswith("-") for a in argv):
        print("usage: python tune/ended_from_git.py TRIALS_CSV [TRIALS_CSV ...]")
        return 2
    for name in argv:
        try:
            filled = ended_from_git(name)
        except BackfillError as err:
            print(f"error: {err}")
            return 2
        print(f"{name}: {filled} rows given their place in 'ended'")
    return 0
