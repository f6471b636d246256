"""One process per run folder: a live owner's lock refuses a second process; a dead owner's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY
from recbole_hybrid.utils.errors import RunInUseError
from recbole_hybrid.quick_start.experiments import run_comparison
from recbole_hybrid.utils.runlock import lock_holder, lock_path, run_lock

SMALL = {**{k: v for k, v in TINY.items() if k != "epochs"}, "user_inter_num_interval": "[5,20]", "epochs": 1}


@pytest.fixture
def other_process():
    """A live process of this host that is not this one (its pid goes into a lock)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def hold(run_dir, pid: int, host: str | None = None) -> None:
    lock_path(run_dir).parent.mkdir(parents=True, exist_ok=True)
    lock_path(run_dir).write_text(f"{host or socket.gethostname()} {pid}")


def test_the_lock_lives_beside_the_run_folder_and_goes_when_the_block_ends(tmp_path):
    run_dir = tmp_path / "saved" / "run-a"
    with run_lock(run_dir) as path:
        assert path == tmp_path / "saved" / "run-a.lock" and not run_dir.exists()
        assert lock_holder(path) is not None  # this process, alive
        with pytest.raises(RunInUseError, match="run-a is in use by"):
            with run_lock(run_dir):
                pass
    assert not path.exists()
    with pytest.raises(ZeroDivisionError):
        with run_lock(run_dir):
            1 / 0
    assert not path.exists()  # released on an error too


def test_a_live_owner_is_named_and_a_dead_one_is_taken_over(tmp_path, other_process):
    run_dir = tmp_path / "run-b"
    hold(run_dir, other_process.pid)
    with pytest.raises(RunInUseError, match=rf"in use by {socket.gethostname()} {other_process.pid} "):
        with run_lock(run_dir):
            pass
    assert lock_path(run_dir).read_text().endswith(str(other_process.pid))  # the owner's lock is left alone
    other_process.kill()  # killed, not yet reaped: a zombie trains nothing
    for _ in range(100):
        if Path(f"/proc/{other_process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    with run_lock(run_dir) as path:
        assert path.read_text().split() == [socket.gethostname(), str(os.getpid())]


def test_a_lock_of_another_host_is_respected(tmp_path):
    run_dir = tmp_path / "run-c"
    hold(run_dir, 1, host="some-other-host")
    with pytest.raises(RunInUseError, match="in use by some-other-host 1"):
        with run_lock(run_dir):
            pass


def test_the_comparison_leaves_a_run_in_use_to_its_process_and_goes_on(tmp_path, other_process):
    overrides = {**SMALL, "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                 "graph_cache_dir": str(tmp_path / "graph")}
    hold(tmp_path / "saved" / "SASRec-ml-100k-pipeline-seed2020", other_process.pid)
    lines = []
    done = run_comparison("pipeline", "ml-100k", seeds=1, models=["SASRec", "HybridFixed"], overrides=overrides,
                          log=lines.append, progress=False)
    assert [(d["model"], d["status"]) for d in done] == [("SASRec", "busy"), ("HybridFixed", "ran")]
    assert not (tmp_path / "runs" / "SASRec-ml-100k-pipeline-seed2020.json").exists()
    assert not (tmp_path / "saved" / "SASRec-ml-100k-pipeline-seed2020").exists()  # nothing written into it
    assert json.loads((tmp_path / "runs" / "HybridFixed-ml-100k-pipeline-seed2020.json").read_text())["epochs"]
    assert any("SASRec-ml-100k-pipeline-seed2020: left to the process training it" in line for line in lines)
