"""Where a comparison's runs stand, read from their files only: ``recbole-hybrid experiments status``.

A grid of runs trains for hours in background processes that share one plan (``experiments``, ``runlock``). This
module reports each run from what those processes leave on disk, without loading a model or touching a lock:

- a record and its ranks in ``results_dir``: the run is **done** (its validation numbers come from the record);
- a run folder ``<checkpoint_dir>/<run_id>/`` with ``last.pth``: **training** while a live process holds its lock,
  else **interrupted** (the same command resumes it), or **stopped early** when early stopping ended it but the
  process died before its test (a resume only tests it);
- a folder without ``last.pth``: **not started** (no epoch finished yet), or training its first epoch under a lock.

For a run that is not done it gives an upper bound on the epochs left: early stopping ends it after
``stopping_step + 1`` validations without a better value, and ``epochs`` caps it. Times are the run's own median
epoch (training and validation) on the machine it ran on so far: they scale that bound, they measure nothing.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.records import load_checkpoint, selected_valid
from recbole_hybrid.utils.runlock import lock_holder, lock_path
from recbole_hybrid.trainer.trainer import VALID_METRIC

STATES = ("done", "training", "interrupted", "stopped early", "not started")


@dataclass(frozen=True)
class RunProgress:
    """One run's standing. ``epochs_done`` counts finished epochs; ``best_*`` is the selection metric so far."""

    run_id: str
    state: str  # one of STATES
    epochs_done: int
    best_epoch: int | None
    best_score: float | None
    stale: int  # validations since the last better one
    epochs_left: int  # at most: 0 for a done or stopped run
    epoch_s: float | None  # median seconds of one epoch (training + validation) so far
    holder: str | None = None  # "host pid" of the process training it

    @property
    def seconds_left(self) -> float | None:
        """At most this many seconds at the run's median epoch; None before its first epoch."""
        return None if self.epoch_s is None else self.epochs_left * self.epoch_s


def epochs_left(last_epoch: int, stale: int, epochs: int, stopping_step: int, eval_step: int) -> int:
    """The most epochs a run can still train after epoch ``last_epoch`` (0-based) with ``stale`` bad validations.

    RecBole's ``early_stopping`` stops at the validation that makes ``stale`` exceed ``stopping_step``; validations
    run after epochs ``e`` with ``(e + 1) % eval_step == 0``; epoch ``epochs - 1`` is the last in any case.
    """
    budget = epochs - 1 - last_epoch
    validations = stopping_step + 1 - stale
    until_stop = validations * eval_step - (last_epoch + 1) % eval_step
    return max(0, min(budget, until_stop))


def _median_epoch_s(entries: list[dict[str, Any]]) -> float | None:
    seconds = [e.get("train_time_s", 0.0) + e.get("valid_time_s", 0.0) for e in entries]
    return statistics.median(seconds) if seconds else None


def _from_record(run_id: str, record: dict[str, Any]) -> RunProgress:
    return RunProgress(run_id, "done", len(record.get("epochs", [])), record.get("best_epoch"),
                       selected_valid(record).get(VALID_METRIC), 0, 0, _median_epoch_s(record.get("epochs", [])))


def run_progress(run_dir: str | Path, results_dir: str | Path) -> RunProgress:
    """The standing of the run whose folder is ``run_dir`` (it need not exist) and whose record would be in
    ``results_dir``."""
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    run_id = run_dir.name
    record = results_dir / f"{run_id}.json"
    if record.is_file() and (results_dir / f"{run_id}.ranks.npz").is_file():
        return _from_record(run_id, json.loads(record.read_text()))
    holder = lock_holder(lock_path(run_dir))
    last = run_dir / "last.pth"
    if not last.is_file():
        return RunProgress(run_id, "training" if holder else "not started", 0, None, None, 0, 0, None, holder)
    try:
        saved = load_checkpoint(last)
        config = saved["config"]
        epoch, stale, stopped = saved["epoch"], saved["stale"], bool(saved.get("stopped"))
        budget = (config["epochs"], config["stopping_step"], config["eval_step"])
    except (RuntimeError, EOFError, KeyError, TypeError) as err:
        raise UsageError(f"{last} is not a readable training state ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else 'empty'}): move it away, or "
                         f"resume the run to rewrite it") from None
    left = 0 if stopped else epochs_left(epoch, stale, *budget)
    state = "training" if holder else "stopped early" if stopped else "interrupted"
    best = saved.get("best_score")
    return RunProgress(run_id, state, epoch + 1, saved.get("best_epoch"),
                       None if best is None or best == float("-inf") else float(best), stale, left,
                       _median_epoch_s(saved.get("epochs", [])), holder)


def grid_progress(checkpoint_dir: str | Path, results_dir: str | Path, match: str = "") -> list[RunProgress]:
    """Every run with a folder in ``checkpoint_dir`` or a record in ``results_dir`` whose id contains ``match``.

    Raises:
        UsageError: ``checkpoint_dir`` is not a folder (a mistyped path would otherwise show only the done runs).
            A missing ``results_dir`` only means that no run is done yet.
    """
    checkpoint_dir, results_dir = Path(checkpoint_dir), Path(results_dir)
    if not checkpoint_dir.is_dir():
        raise UsageError(f"--checkpoint_dir={checkpoint_dir} is not a folder: give the runs' checkpoint_dir "
                         f"(the folder holding <run_id>/last.pth)")
    ids = {p.name for p in checkpoint_dir.iterdir()
           if p.is_dir() and ((p / "invocation.json").is_file() or (p / "last.pth").is_file())}
    if results_dir.is_dir():
        ids |= {p.name[:-len(".ranks.npz")] for p in results_dir.glob("*.ranks.npz")}
    return [run_progress(checkpoint_dir / rid, results_dir) for rid in sorted(ids) if match in rid]


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f} h"


def format_progress(rows: list[RunProgress]) -> str:
    """A markdown table of ``rows`` and a closing line with the counts and the bound on what is left."""
    if not rows:
        return "No run folder or record matches.\n"
    lines = ["| run | state | epochs done | best epoch | best valid NDCG@10 | stale | epochs left (at most) "
             "| median epoch s | time left (at most) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        state = f"{r.state} ({r.holder})" if r.holder else r.state
        score = "" if r.best_score is None else f"{r.best_score:.4f}"
        epoch_s = "" if r.epoch_s is None else f"{r.epoch_s:.0f}"
        best = "" if r.best_epoch is None else str(r.best_epoch)
        left = ("", "", "") if r.state == "done" else (r.stale, r.epochs_left, _hours(r.seconds_left))
        lines.append(f"| {r.run_id} | {state} | {r.epochs_done} | {best} | {score} | {left[0]} | {left[1]} "
                     f"| {epoch_s} | {left[2]} |")
    counts = ", ".join(f"{sum(r.state == s for r in rows)} {s}" for s in STATES if any(r.state == s for r in rows))
    pending = [r for r in rows if r.state != "done"]
    known = [r.seconds_left for r in pending if r.seconds_left is not None]
    tail = f"{len(rows)} runs: {counts}."
    if pending:
        tail += (f" The runs begun have at most {sum(r.epochs_left for r in pending)} epochs left"
                 + (f", {_hours(sum(known))} of their own median epochs run one after another" if known else "")
                 + "; runs not begun yet are not counted.")
    return "\n".join(lines) + "\n\n" + tail + "\n"
