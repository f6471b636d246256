"""The grid scripts (run_literature_grid.sh, device_grid.sh): which experiments calls they make, in which order, within
which time (a stand-in Python logs them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run_literature_grid.sh"
FIRST = "SASRec,HybridResidual-fused,HybridFixed,HybridDiscrete,HybridLearnable,HybridContinuous,HybridDiscrete-nograph"
LATER = "HybridResidual-fused-nograph,HybridResidual-fused-itemgate,HybridResidual"
#: the scripts' settings, taken out of the caller's environment so that only each test's own apply
SETTINGS = ("MODELS", "LATER", "SEEDS", "RECIPE", "PROCS", "LIMIT", "DATASET", "DATA_PATH", "BENCH", "THREADS")


def script_env(**env: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in SETTINGS}, **env}


def run_script(tmp_path: Path, fail_on: str | None = None, **env: str) -> tuple[int, list[list[str]]]:
    """Run the script with PYTHON replaced by a logger; return its exit code and the logged argument lists."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    failing = f'case "$*" in *{fail_on}*) exit 3;; esac' if fail_on else ""
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{log}"\n{failing}\n')
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(SCRIPT), "--results_dir=R"], capture_output=True, text=True,
                            env=script_env(PYTHON=str(fake), **env), timeout=60)
    calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, calls


def models_of(call: list[str]) -> str:
    return next(arg.split("=", 1)[1] for arg in call if arg.startswith("--models="))


def test_the_table_and_the_current_redesign_run_first_over_all_seeds_then_the_older_redesign(tmp_path):
    code, calls = run_script(tmp_path, RECIPE="literature-target")
    assert code == 0
    assert calls[0][:3] == ["-m", "recbole_hybrid.data", "check"]
    runs = calls[1:]
    assert [models_of(c) for c in runs] == [FIRST, LATER]
    for call in runs:
        assert call[:3] == ["-m", "recbole_hybrid.experiments", "literature-target"]
        assert "--seeds=3" in call and "--results_dir=R" in call
        assert "--config_files=configs/ml-1m/2026-11-27-literature-target.yaml" in call


@pytest.mark.parametrize("env, expected", [
    ({"LATER": ""}, [FIRST]),
    ({"MODELS": "SASRec", "LATER": "HybridResidual", "SEEDS": "1"}, ["SASRec", "HybridResidual"]),
])
def test_the_stages_follow_models_and_later(tmp_path, env, expected):
    code, calls = run_script(tmp_path, **env)
    assert code == 0
    assert [models_of(c) for c in calls[1:]] == expected
    if "SEEDS" in env:
        assert all("--seeds=1" in c for c in calls[1:])


@pytest.mark.parametrize("fail_on", ["recbole_hybrid.data", "--models=SASRec,"])
def test_a_failing_step_stops_the_script_before_the_next(tmp_path, fail_on):
    code, calls = run_script(tmp_path, fail_on=fail_on)
    assert code == 3
    assert calls[-1] == next(c for c in calls if fail_on in " ".join(c))


DEVICE_SCRIPT = ROOT / "scripts" / "device_grid.sh"


def run_device_grid(tmp_path: Path, sleep: int = 0, **env: str) -> list[list[str]]:
    """device_grid.sh with a stand-in Python that prints its arguments and, for experiments calls, sleeps ``sleep``
    seconds; returns the --models values of each process in order, read from the process's log in OUT."""
    fake = tmp_path / "python"
    fake.write_text(f"""#!/usr/bin/env bash
echo "CALL $*"
case "$*" in *recbole_hybrid.experiments*) exec sleep {sleep};; esac
""")
    fake.chmod(0o755)
    out = tmp_path / "out"
    settings = {"PYTHON": str(fake), "NO_SETUP": "1", "STAGGER": "0", "OUT": str(out),
                "RESULTS_DIR": str(tmp_path / "runs"), "CHECKPOINT_DIR": str(tmp_path / "saved"), **env}
    result = subprocess.run(["bash", str(DEVICE_SCRIPT), "--epochs=2"], capture_output=True, text=True,
                            env=script_env(**settings), timeout=60)
    assert result.returncode == 0, result.stderr
    assert (out / "grid.tar.gz").exists()
    stages = []
    for process_log in sorted(out.glob("grid-*.log")):
        calls = [line.split()[1:] for line in process_log.read_text().splitlines() if line.startswith("CALL ")]
        for call in calls:
            assert "--epochs=2" in call and f"--checkpoint_dir={tmp_path / 'saved'}" in call
        stages.append([models_of(call) for call in calls])
    return stages


def test_each_device_process_runs_the_first_stage_then_the_later_one(tmp_path):
    stages = run_device_grid(tmp_path, PROCS="2", LIMIT="30")
    assert stages == [[FIRST, LATER]] * 2


def test_a_device_stage_cut_by_the_deadline_ends_its_process(tmp_path):
    stages = run_device_grid(tmp_path, sleep=30, PROCS="1", LIMIT="2")
    assert stages == [[FIRST]]
