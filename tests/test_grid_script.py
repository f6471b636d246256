"""The grid script (run_literature_grid.sh): which experiments calls it makes, in which order (a stand-in Python logs
them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run_literature_grid.sh"
FIRST = "SASRec,HybridResidual-fused,HybridFixed,HybridDiscrete,HybridLearnable,HybridContinuous,HybridDiscrete-nograph"
LATER = "HybridResidual-fused-nograph,HybridResidual"
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
    assert calls[0][:4] == ["-m", "recbole_hybrid", "data", "check"]
    runs = calls[1:]
    assert [models_of(c) for c in runs] == [FIRST, LATER]
    for call in runs:
        assert call[:4] == ["-m", "recbole_hybrid", "experiments", "literature-target"]
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


@pytest.mark.parametrize("fail_on", ["--expect_users=6034", "--models=SASRec,"])
def test_a_failing_step_stops_the_script_before_the_next(tmp_path, fail_on):
    code, calls = run_script(tmp_path, fail_on=fail_on)
    assert code == 3
    assert calls[-1] == next(c for c in calls if fail_on in " ".join(c))
