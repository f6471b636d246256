"""What a run record says about the machine: a CPU is named by its model, not only its architecture."""

from __future__ import annotations

import os
import platform

from recbole_hybrid.utils.records import cpu_name, device_name


def test_a_cpu_device_is_named_by_its_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu\n")
    assert cpu_name(info) == "AMD EPYC 9654"
    info.write_text("processor\t: 0\nflags\t\t: fpu\n")  # no model name: the platform's name
    assert cpu_name(info) == (platform.processor() or platform.machine())
    assert cpu_name(tmp_path / "missing") == (platform.processor() or platform.machine())
    assert device_name("cpu") == f"CPU {cpu_name()} ({os.cpu_count()} cores)"


def test_versions_say_whether_the_code_differed_from_its_commit(tmp_path, monkeypatch):
    """``git_dirty``: an uncommitted change to the code is recorded; one to a trial row or a result is not."""
    import subprocess

    from recbole_hybrid.utils import records

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "recbole_hybrid").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "recbole_hybrid" / "model.py").write_text("a = 1\n")
    (tmp_path / "results" / "trials.csv").write_text("trial_id\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    monkeypatch.setattr(records, "source_root", lambda: tmp_path)
    assert records.versions()["git_dirty"] is False
    (tmp_path / "results" / "trials.csv").write_text("trial_id\nabc\n")
    assert records.versions()["git_dirty"] is False
    (tmp_path / "recbole_hybrid" / "model.py").write_text("a = 2\n")
    got = records.versions()
    assert got["git_dirty"] is True and len(got["git_commit"]) == 40
    monkeypatch.setattr(records, "source_root", lambda: None)
    assert (records.versions()["git_commit"], records.versions()["git_dirty"]) == (None, None)
