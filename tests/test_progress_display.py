"""Long work shows itself (``utils/progress_display.py``), changes no number, and a failed download is one line."""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import sys
import urllib.error
import urllib.request
import zipfile

import pytest

from conftest import TINY
from recbole_hybrid.cli.main import main as console
from recbole_hybrid.data.atomic import fetch_dataset
from recbole_hybrid.model import graph
from recbole_hybrid.quick_start.runner import run_experiment
from recbole_hybrid.utils import progress_display
from recbole_hybrid.utils.progress_display import Steps, display_mode

#: What a run says on stderr with show_progress (plain lines: stderr is no terminal under the test).
PROGRESS_PREFIXES = ("data:", "graph:", "train:", "train epoch", "valid epoch", "final:")
STEP_LINE = re.compile(r"^train epoch 0: step (\d+)/(\d+) \(\d+%\)  [\d.]+ (steps/s|s/step)  ETA \d+:\d\d$")


def tiny_run(out, show_progress: bool) -> tuple[dict, list[str], str]:
    """One epoch of HybridDiscrete (sequence mode, ~11 steps) on ml-100k: ``(record, stdout lines, stderr)``."""
    settings = {**TINY, "show_progress": show_progress, "train_batch_size": 512,
                "results_dir": str(out / "runs"), "checkpoint_dir": str(out / "saved"),
                "graph_cache_dir": str(out / "graph")}
    logged: list[str] = []
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(graph, "_MEMORY_CACHE", {})  # build the graph here, not from an earlier test's memory
        mp.setattr(progress_display, "LINE_EVERY_S", 0.0)  # a line at every new tenth of the tiny epoch
        with contextlib.redirect_stderr(err):
            record = run_experiment("HybridDiscrete", "ml-100k", [], settings, run_id="r", log=logged.append)
    return record, logged, err.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run (same seed) with progress on and off."""
    on = tiny_run(tmp_path_factory.mktemp("on"), True)
    off = tiny_run(tmp_path_factory.mktemp("off"), False)
    return on, off


def test_progress_on_prints_plain_step_lines_with_rate_and_eta_and_the_graph_build(runs):
    (record, logged, err), _ = runs
    lines = err.splitlines()
    assert "\r" not in err, "a bar where stderr is no terminal"
    steps = [m for m in map(STEP_LINE.match, lines) if m]
    assert steps, lines
    assert all(int(m.group(1)) < int(m.group(2)) for m in steps)  # the epoch's summary line ends it, not 100%
    assert any(line.startswith("data: loading ml-100k from ") for line in lines)
    assert any(re.fullmatch(r"data: done in [\d.]+s", line) for line in lines)
    assert any(line.startswith("graph: item co-occurrence graph of ml-100k (window ") for line in lines)
    assert any(re.fullmatch(r"graph: built in [\d.]+s, \d+ items, \d+ edges \(cached in .*\.npz\)", line)
               for line in lines), lines
    assert any(line.startswith("train: ") and "steps per epoch, up to 1 epoch from epoch 0" in line for line in lines)
    assert any(re.fullmatch(r"valid epoch 0: ranking all items for \d+ users \.\.\.", line) for line in lines)
    assert any(re.fullmatch(r"valid epoch 0: done in [\d.]+s", line) for line in lines)
    assert any(re.fullmatch(r"final: done in [\d.]+s", line) for line in lines)
    assert all(line.startswith(PROGRESS_PREFIXES) for line in lines), lines
    # the summary lines (stdout) are as before, and no progress line among them
    assert re.fullmatch(r"epoch   0  loss \d+\.\d{4} +[\d.]+s  valid ndcg@10 \d\.\d{4}  \*", logged[2]), logged


def test_progress_off_prints_none_of_it(runs):
    _, (record, logged, err) = runs
    assert not [line for line in err.splitlines() if line.startswith(PROGRESS_PREFIXES)], err
    assert re.fullmatch(r"epoch   0  loss \d+\.\d{4} +[\d.]+s  valid ndcg@10 \d\.\d{4}  \*", logged[2]), logged


def test_progress_changes_no_number(runs):
    (on, *_), (off, *_) = runs
    for key in ("best_epoch", "best_valid", "best_valid_filter_seen", "test", "test_filter_seen"):
        assert on[key] == off[key], key
    assert [(e["train_loss"], e["valid"], e["passes"]) for e in on["epochs"]] == [
        (e["train_loss"], e["valid"], e["passes"]) for e in off["epochs"]]


def test_a_terminal_gets_a_bar_and_no_setting_gets_nothing(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 2

    width = [100]
    monkeypatch.setattr(progress_display.os, "get_terminal_size", lambda fd: os.terminal_size((width[0], 30)))
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert display_mode({"show_progress": True}) == "bar" and display_mode(True) == "bar"
    width[0] = 0  # a pseudo-terminal nobody sized: tqdm would draw nothing there
    assert display_mode(True) == "lines"
    width[0] = 100
    assert display_mode({"show_progress": False}) is None and display_mode({}) is None
    with Steps(40, "train epoch 3", "bar") as steps:
        for _ in range(40):
            steps.update()
    shown = sys.stderr.getvalue()
    assert "train epoch 3" in shown and "/40" in shown and "step/s" in shown
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert display_mode({"show_progress": True}) == "lines"
    with Steps(40, "x", None) as steps:
        steps.update(40)
    assert sys.stderr.getvalue() == ""


def no_network(monkeypatch):
    """Every address fails as without network; nothing reaches a socket."""
    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    def no_socket(*args, **kwargs):
        raise AssertionError("the test opened a connection")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(socket, "create_connection", no_socket)


@pytest.mark.parametrize("show_progress", [False, True])
def test_a_download_without_network_ends_in_one_line(tmp_path, monkeypatch, capsys, show_progress):
    no_network(monkeypatch)
    data = tmp_path / "data"
    status = console(["run", "--model=SASRec", "--dataset=ml-1m", f"--data_path={data}", "--allow_download=True",
                      f"--show_progress={show_progress}", "--use_gpu=False",
                      f"--results_dir={tmp_path / 'runs'}", f"--checkpoint_dir={tmp_path / 'saved'}"])
    err = capsys.readouterr().err
    assert status == 2
    lines = err.splitlines()
    assert "Traceback" not in err and len(lines) == (2 if show_progress else 1), err
    if show_progress:
        assert lines[0].startswith("data: downloading ml-1m from https://")
    assert lines[-1].startswith("recbole-hybrid run: error: dataset 'ml-1m': could not download https://")
    assert "ml-1m.zip (Temporary failure in name resolution)" in lines[-1]
    assert f"--data_path={data}" in lines[-1] and "recbole-hybrid data prepare --ratings ml-1m.zip" in lines[-1]
    assert not (data / "ml-1m").exists()  # no empty folder that the next run would take for the dataset


def test_a_download_that_works_gives_recboles_files_without_its_distributed_barrier(tmp_path, monkeypatch):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ml-1m.inter", "user_id:token\titem_id:token\n1\t2\n")

    class Response(io.BytesIO):
        def info(self):
            return {"Content-Length": str(len(self.getvalue()))}

    no_network(monkeypatch)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url: Response(archive.getvalue()))
    folder = tmp_path / "ml-1m"
    config = {"dataset": "ml-1m", "data_path": str(folder), "show_progress": False}
    assert fetch_dataset(config) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["ml-1m.inter"]
    assert fetch_dataset(config) is None  # the folder exists: RecBole reads it, nothing is downloaded
