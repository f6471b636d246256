"""End to end: training lowers the loss, a run writes its record and a safe checkpoint, bad data is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from recbole.trainer import Trainer

from recbole_hybrid import HybridDiscrete
from recbole_hybrid.data.atomic import AtomicFileError
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.utils.records import load_checkpoint
from recbole_hybrid.quick_start.runner import load_data, run_experiment


def mean_loss(model, loader) -> float:
    model.eval()
    with torch.no_grad():
        losses = [model.calculate_loss(batch).item() for batch in loader]
    return sum(losses) / len(losses)


def test_one_epoch_lowers_the_loss(ml100k_data):
    config, _, train, _, _ = ml100k_data
    torch.manual_seed(0)
    model = HybridDiscrete(config, train.dataset)
    before = mean_loss(model, train)
    Trainer(config, model)._train_epoch(train, 0)
    assert mean_loss(model, train) < before - 0.05


def test_run_writes_record_and_weights_only_checkpoint(tiny):
    record = run_experiment("HybridDiscrete", "ml-100k", [], tiny, log=lambda *_: None)
    path = Path(tiny["results_dir"]) / f"{record['run_id']}.json"
    saved = json.loads(path.read_text())
    assert saved["model"] == "HybridDiscrete" and saved["dataset"] == "ml-100k" and saved["seed"] == 2020
    assert [e["epoch"] for e in saved["epochs"]] == [0] and saved["best_epoch"] == 0
    assert saved["epochs"][0]["train_loss"] > 0 and saved["epochs"][0]["train_time_s"] > 0
    for split in ("best_valid", "test"):
        assert set(saved[split]) == {f"{m}@{k}" for m in ("ndcg", "hit", "mrr") for k in (5, 10, 20)}
        assert 0 <= saved[split]["ndcg@10"] <= saved[split]["hit@10"] <= 1
    assert saved["config"]["hidden_size"] == 32 and saved["config"]["alpha_short"] == 0.3
    assert saved["config"]["train_mode"] == saved["trainer"] == "sequence"  # auto, resolved before it is recorded
    assert {"torch", "recbole", "numpy", "python"} <= set(saved["versions"]) and saved["device"]
    assert saved["wall_time_s"] > 0
    ckpt = load_checkpoint(saved["checkpoint"])  # weights_only=True: plain data and tensors only
    assert ckpt["config"]["model"] == "HybridDiscrete" and "item_embedding.weight" in ckpt["state_dict"]


def test_builtin_sasrec_runs_through_the_same_path(tiny):
    record = run_experiment("SASRec", "ml-100k", [], tiny, log=lambda *_: None)
    assert record["model"] == "SASRec" and record["test"]["ndcg@10"] > 0


def test_cli_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), "--model=Nope", "--dataset=ml-100k"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("recbole-hybrid run: error: unknown model 'Nope'")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_dataset_files_are_named(tmp_path, tiny):
    with bare_argv():
        config = build_config("SASRec", "ml-1m", [], {**tiny, "data_path": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r"dataset 'ml-1m': .*ml-1m/ml-1m.inter not found"):
        load_data(config)


def test_malformed_atomic_file_is_refused_before_training(tmp_path, tiny):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "broken.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t1\n1\t11\tfive\t2\n")
    with bare_argv():
        config = build_config("SASRec", "broken", [], {**tiny, "data_path": str(tmp_path)})
    with pytest.raises(AtomicFileError, match=r"broken.inter, line 3: field 'rating' \(float\) holds 'five'"):
        load_data(config)


def test_demo_runs_sasrec_and_the_hybrids(tmp_path, capsys):
    from recbole_hybrid.cli import demo
    from recbole_hybrid.quick_start.experiments import MODELS

    assert demo.main([f"--results_dir={tmp_path / 'runs'}", f"--checkpoint_dir={tmp_path / 'saved'}",
                      f"--graph_cache_dir={tmp_path / 'graph'}", "--epochs=1", "--use_gpu=False"]) == 0
    table = capsys.readouterr().out.split("ml-100k demo")[-1]
    assert "HybridResidual" in MODELS
    for model in MODELS:
        assert f"\n{model} " in table
    assert len(list((tmp_path / "runs").glob("*.json"))) == len(MODELS)


def test_a_run_prints_the_settings_it_resolved_from_a_yaml_and_the_command_line(tiny, tmp_path):
    """Checking that a yaml took effect needs no JSON: the run says what it resolved, and where it writes."""
    own = tmp_path / "my.yaml"
    own.write_text("learning_rate: 0.005\nalpha_short: 0.2\nL_short: 4\n")  # L_short: the command line wins
    lines: list[str] = []
    record = run_experiment("HybridDiscrete", "ml-100k", [str(own)], {**tiny, "n_heads": 1}, log=lines.append)
    (line,) = [line for line in lines if line.startswith("settings given:")]
    assert "learning_rate=0.005" in line and "alpha_short=0.2" in line and "n_heads=1" in line
    assert "L_short=5" in line and "L_short=4" not in line
    assert f"record {Path(tiny['results_dir']) / record['run_id']}.json" in line
