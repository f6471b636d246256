"""``experiments status``: each run's standing read from its folder and record, and the bound on what is left."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics

import pytest

from conftest import TINY
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.cli.experiments import main as experiments_main
from recbole_hybrid.quick_start.progress import epochs_left, format_progress, grid_progress, run_progress
from recbole_hybrid.utils.runlock import lock_path
from recbole_hybrid.quick_start.runner import run_experiment


@pytest.mark.parametrize("last_epoch, stale, epochs, stopping_step, eval_step, expected", [
    (50, 4, 200, 20, 1, 17),   # 17 more bad validations end it: the 21st in a row stops
    (50, 0, 60, 20, 1, 9),     # the epoch budget ends it first (epochs 51..59)
    (9, 0, 100, 1, 2, 4),      # validated after 11 and 13; the second bad one (13) stops
    (10, 0, 100, 1, 2, 3),     # mid-interval: epoch 11 validates next
    (98, 3, 100, 20, 1, 1),    # only epoch 99 is left
    (99, 0, 100, 20, 1, 0),    # the budget is spent
])
def test_epochs_left_follows_recboles_early_stopping_and_the_budget(last_epoch, stale, epochs, stopping_step,
                                                                    eval_step, expected):
    assert epochs_left(last_epoch, stale, epochs, stopping_step, eval_step) == expected


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real two-epoch sequence run of HybridFixed on ml-100k: ``(folder root, record)``."""
    out = tmp_path_factory.mktemp("progress")
    settings = {**TINY, "epochs": 2, "train_mode": "sequence", "train_batch_size": 64, "stopping_step": 5,
                "results_dir": str(out / "runs"), "checkpoint_dir": str(out / "saved"),
                "graph_cache_dir": str(out / "graph")}
    record = run_experiment("HybridFixed", "ml-100k", [], settings, run_id="fixed-a", log=lambda *_: None)
    return out, record


def test_a_run_with_record_and_ranks_is_done_with_its_recorded_selection(finished):
    out, record = finished
    row = run_progress(out / "saved" / "fixed-a", out / "runs")
    assert row.state == "done" and row.epochs_done == 2 and row.best_epoch == record["best_epoch"]
    assert row.best_score == pytest.approx(record["best_valid"]["ndcg@10"])
    assert row.epochs_left == 0


def test_a_folder_without_its_record_is_interrupted_and_a_live_lock_makes_it_training(finished, tmp_path):
    out, record = finished
    shutil.copytree(out / "saved" / "fixed-a", tmp_path / "saved" / "fixed-a")
    row = run_progress(tmp_path / "saved" / "fixed-a", tmp_path / "runs")
    assert row.state == "interrupted" and row.epochs_done == 2 and row.holder is None
    assert row.best_epoch == record["best_epoch"] and row.epochs_left == 0  # its 2-epoch budget is spent
    assert row.epoch_s == pytest.approx(statistics.median(e["train_time_s"] + e["valid_time_s"]
                                                          for e in record["epochs"]))
    lock_path(tmp_path / "saved" / "fixed-a").write_text(f"{socket.gethostname()} {os.getpid()}")
    row = run_progress(tmp_path / "saved" / "fixed-a", tmp_path / "runs")
    assert row.state == "training" and row.holder == f"{socket.gethostname()} {os.getpid()}"


def test_the_grid_lists_folders_and_records_and_filters_by_match(finished, tmp_path):
    out, _ = finished
    shutil.copytree(out, tmp_path / "grid")
    (tmp_path / "grid" / "saved" / "fixed-b").mkdir()
    (tmp_path / "grid" / "saved" / "fixed-b" / "invocation.json").write_text(json.dumps({}))
    (tmp_path / "grid" / "saved" / "graph-cache-like").mkdir()  # neither invocation nor last.pth: not a run
    rows = grid_progress(tmp_path / "grid" / "saved", tmp_path / "grid" / "runs")
    assert [(r.run_id, r.state) for r in rows] == [("fixed-a", "done"), ("fixed-b", "not started")]
    assert [r.run_id for r in grid_progress(tmp_path / "grid" / "saved", tmp_path / "grid" / "runs", "-b")] == [
        "fixed-b"]
    table = format_progress(rows)
    assert "| fixed-b | not started | 0 |" in table
    assert table.rstrip().endswith("2 runs: 1 done, 1 not started. The runs begun have at most 0 epochs left; runs "
                                   "not begun yet are not counted.")


def test_status_command_prints_the_table_and_refuses_missing_folders(finished, tmp_path, capsys):
    out, _ = finished
    assert experiments_main(["status", f"--checkpoint_dir={out / 'saved'}", f"--results_dir={out / 'runs'}"]) == 0
    assert "| fixed-a | done | 2 |" in capsys.readouterr().out
    with pytest.raises(UsageError, match=r"--checkpoint_dir=.*nope is not a folder"):
        experiments_main(["status", f"--checkpoint_dir={tmp_path / 'nope'}", f"--results_dir={out / 'runs'}"])
    (tmp_path / "saved").mkdir()  # no run done yet: a missing results folder is no mistake
    assert experiments_main(["status", f"--checkpoint_dir={tmp_path / 'saved'}",
                             f"--results_dir={tmp_path / 'runs'}"]) == 0
    assert capsys.readouterr().out == "No run folder or record matches.\n"


def test_an_unreadable_training_state_is_named(finished, tmp_path):
    out, _ = finished
    shutil.copytree(out / "saved" / "fixed-a", tmp_path / "fixed-a")
    last = tmp_path / "fixed-a" / "last.pth"
    last.write_bytes(last.read_bytes()[:100])  # cut short, as a full disk leaves it
    with pytest.raises(UsageError, match=r"fixed-a/last.pth is not a readable training state"):
        run_progress(tmp_path / "fixed-a", tmp_path / "runs")
