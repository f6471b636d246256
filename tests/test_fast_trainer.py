"""FastTrainer: RecBole's batches and numbers, device-side negatives, its error paths, and the CPU benchmark."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from recbole.data.dataloader import TrainDataLoader
from recbole.data.interaction import Interaction
from recbole.model.sequential_recommender import SASRec

from recbole_hybrid import HybridDiscrete
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.trainer.fast import FastTrainer, recbole_epoch_order, resolve_trainer
from recbole_hybrid.quick_start.runner import run_experiment

ROOT = Path(__file__).resolve().parent.parent


def rows_of(dataset, n: int):
    """The first ``n`` training rows as a loader-like object (``FastTrainer`` reads only ``.dataset``)."""
    return SimpleNamespace(dataset=dataset.copy(dataset.inter_feat[torch.arange(n)]))


@pytest.fixture
def one_thread():
    """One torch thread: on a CPU shared with other jobs, two threads spin against each other (4x slower here)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_epoch_order_is_recbole_dataloader_order(ml100k_data):
    config, _, train, _, _ = ml100k_data
    loader = TrainDataLoader(config, train.dataset, None, shuffle=True)  # fresh: its generator is newly seeded
    generator = torch.Generator().manual_seed(config["seed"])
    seqs = train.dataset.inter_feat[config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]]
    for _ in range(2):  # the second epoch continues the generator as RecBole's does
        recbole_batches = torch.cat([b[config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]] for b in loader])
        assert torch.equal(recbole_batches, seqs[recbole_epoch_order(generator, len(train.dataset))])


def test_fast_trainer_reproduces_recbole_sasrec(tiny, one_thread):
    """Same seed: the fast path gives RecBole's losses and metrics, epoch by epoch (exact on CPU).

    Three epochs of a smaller SASRec than ``tiny`` keep the test near a minute; equal losses and metrics after every
    epoch (same batches, same dropout draws) is a stronger check than a tolerance after ten.
    """
    small = {**tiny, "epochs": 3, "MAX_ITEM_LIST_LENGTH": 10, "hidden_size": 16, "inner_size": 32,
             "L_short": 3, "L_long": 8, "train_mode": "prefix"}
    records = {which: run_experiment("SASRec", "ml-100k", overrides={**small, "trainer": which},
                                     run_id=f"eq-{which}", log=lambda *_: None)
               for which in ("recbole", "fast")}
    stock, fast = records["recbole"], records["fast"]
    assert (stock["trainer"], fast["trainer"]) == ("recbole", "fast")
    assert len(fast["epochs"]) == len(stock["epochs"]) == 3
    for a, b in zip(stock["epochs"], fast["epochs"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-9)
        assert b["valid"]["ndcg@10"] == pytest.approx(a["valid"]["ndcg@10"], abs=1e-6)
    assert fast["epochs"][1]["valid"]["ndcg@10"] > fast["epochs"][0]["valid"]["ndcg@10"] > 0  # it learns
    assert fast["test"] == pytest.approx(stock["test"], abs=1e-6)


def test_bpr_negatives_are_uniform_and_never_the_positive(ml100k_data, tmp_path):
    config, _, train, _, _ = ml100k_data
    with bare_argv():
        bpr = build_config("HybridDiscrete", "ml-100k", [], {
            "MAX_ITEM_LIST_LENGTH": 20, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "L_short": 5,
            "L_long": 15, "use_gpu": False, "loss_type": "BPR", "train_mode": "prefix", "train_batch_size": 1024,
            "trainer": "fast", "graph_cache_dir": str(tmp_path / "graph")})
    model = HybridDiscrete(bpr, train.dataset)
    fast = FastTrainer(bpr, model, rows_of(train.dataset, 3000))
    batch = fast.batch(torch.arange(3000).repeat(20))  # 60,000 draws
    pos, neg = batch[model.POS_ITEM_ID], batch[model.NEG_ITEM_ID]
    assert (neg != pos).all() and neg.min() >= 1 and neg.max() <= model.n_items - 1
    assert len(torch.unique(neg)) == model.n_items - 1  # every real item is drawn (about 41 times each)
    assert len(fast) == 3
    loss = fast.train_epoch(0)
    assert loss > 0 and loss == loss


def test_nan_loss_stops_with_epoch_and_steps(ml100k_data):
    config, _, train, _, _ = ml100k_data
    config = copy.deepcopy(config)
    config["fast_check_every"] = 1
    model = HybridDiscrete(config, train.dataset)
    with torch.no_grad():
        model.item_embedding.weight.fill_(float("nan"))
    fast = FastTrainer(config, model, rows_of(train.dataset, 2 * config["train_batch_size"]))
    with pytest.raises(FloatingPointError, match=r"training loss is nan at epoch 3, step 0\b"):
        fast.train_epoch(3)


class TimestampSASRec(SASRec):
    """A model that reads a training field the fast trainer does not carry."""

    def calculate_loss(self, interaction):
        interaction["timestamp"]
        return super().calculate_loss(interaction)


def test_model_reading_an_uncarried_field_gets_a_clear_error(ml100k_data):
    config, _, train, _, _ = ml100k_data
    fast = FastTrainer(config, TimestampSASRec(config, train.dataset), rows_of(train.dataset, 64))
    with pytest.raises(ConfigError, match=r"TimestampSASRec reads training field 'timestamp'.*--trainer=recbole"):
        fast.train_epoch(0)


def test_training_rows_without_a_needed_field_are_refused(ml100k_data):
    config, _, train, _, _ = ml100k_data
    inter = train.dataset.inter_feat
    no_lengths = Interaction({k: v for k, v in inter.interaction.items() if k != config["ITEM_LIST_LENGTH_FIELD"]})
    with pytest.raises(ConfigError, match=r"needs the training fields \['item_length'\]"):
        FastTrainer(config, SASRec(config, train.dataset),
                    SimpleNamespace(dataset=SimpleNamespace(inter_feat=no_lengths)))


@pytest.mark.parametrize("overrides, message", [
    ({"trainer": "turbo"}, r"trainer='turbo' must be one of auto, fast, recbole"),
    ({"fast_check_every": 0}, r"fast_check_every=0 must be an integer >= 1"),
    ({"fast_bf16": "yes"}, r"fast_bf16='yes' must be True or False"),
    ({"trainer": "fast", "learner": "sgd"}, r"trainer=fast cannot train this config: learner='sgd'"),
    ({"trainer": "fast", "transform": "mask_itemseq"}, r"trainer=fast cannot train .* transform='mask_itemseq'"),
    ({"trainer": "fast", "loss_type": "BPR", "train_neg_sample_args": {"distribution": "popularity",
                                                                       "sample_num": 1}},
     r"train_neg_sample_args=.*popularity.*one uniform negative"),
])
def test_bad_trainer_settings_are_refused(overrides, message):
    with bare_argv(), pytest.raises(ConfigError, match=message):
        build_config("SASRec", "ml-100k", [], {"use_gpu": False, **overrides})


def test_auto_falls_back_to_recbole_only_when_needed():
    with bare_argv():
        plain = build_config("SASRec", "ml-100k", [], {"use_gpu": False, "train_mode": "prefix"})
        sgd = build_config("SASRec", "ml-100k", [], {"use_gpu": False, "train_mode": "prefix", "learner": "sgd"})
    assert plain["trainer"] == "auto" and resolve_trainer(plain) == "fast"
    assert resolve_trainer(sgd) == "recbole"


def test_benchmark_on_cpu_fast_is_not_slower_than_stock(tmp_path):
    out = tmp_path / "speed.json"
    cmd = [sys.executable, "benchmarks/train_speed.py", "--cpu", "--batch_sizes=256", "--steps=8", "--rounds=5",
           "--threads=1", f"--graph_cache_dir={tmp_path / 'graph'}", f"--out={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, whatever the venv has installed
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    record = json.loads(out.read_text())
    assert record["device"].startswith("CPU") and record["date"] and record["dataset"] == "ml-100k"
    rows = {(r["variant"], r["model"]): r for r in record["results"]}
    assert set(rows) == {("recbole", "SASRec"), ("recbole-no-anomaly", "SASRec"), ("fast", "SASRec"),
                         ("fast", "HybridDiscrete")}
    for r in rows.values():
        assert r["steps_timed"] == 8 and r["ms_per_step"] > 0 and r["cpu_ops_per_step"] > 0
        assert r["epoch_s"] == pytest.approx(r["ms_per_step"] * r["steps_per_epoch"] / 1000)
    assert set(record["eval_full_ranking_s"]) == {"SASRec", "HybridDiscrete"}
    assert record["ratios"]["256"]["fast_SASRec_over_recbole_SASRec"] <= 1.0


def test_wallclock_benchmark_trains_each_scheme_to_each_checkpoint(tmp_path):
    out = tmp_path / "wallclock.json"
    cmd = [sys.executable, "benchmarks/wallclock_quality.py", "--dataset=ml-100k", "--schemes=sequence,prefix",
           "--checkpoints=0.5,1.5", "--prefix_batch=64", "--threads=1", f"--out={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    record = json.loads(out.read_text())
    assert record["benchmark"] == "wallclock_quality" and record["checkpoints_s"] == [0.5, 1.5]
    sequence, prefix = record["results"]
    assert (sequence["trainer"], sequence["settings"]["train_mode"]) == ("sequence", "sequence")
    assert (prefix["trainer"], prefix["settings"]["train_batch_size"]) == ("fast", 64)
    for r in (sequence, prefix):
        first, second = r["points"]
        # every scheme trained at least to each checkpoint on its own clock, and the clock only moves forward
        assert 0.5 <= first["train_s"] <= second["train_s"] and second["train_s"] >= 1.5
        assert 1 <= first["steps"] <= second["steps"]
        assert second["epochs"] == pytest.approx(second["steps"] / r["steps_per_epoch"])
        assert 0 <= second["valid_ndcg@10"] <= 1 and 0 <= second["valid_ndcg@10_filter_seen"] <= 1
    spec = importlib.util.spec_from_file_location("speed_table", ROOT / "benchmarks" / "speed_table.py")
    speed_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed_table)
    rows = [line for line in speed_table.wallclock_table(record).splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[1].startswith("| sequence | SASRec | 200 | 128 |")


def test_loss_weight_shares_follow_each_rule(tmp_path):
    """Under ``target`` each window group's weight share is its share of the targets; under ``batch`` (length
    batching) the groups of short windows weigh more than their share."""
    out = tmp_path / "weights.json"
    cmd = [sys.executable, "benchmarks/sequence_loss_weights.py", "--dataset=ml-100k", "--epochs=2", f"--out={out}"]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
                   timeout=600)
    record = json.loads(out.read_text())
    groups = record["groups"]
    assert sum(g["windows"] for g in groups) == record["windows"]
    for rule in ("target_share", "weight_share_target", "weight_share_batch"):
        assert sum(g[rule] for g in groups) == pytest.approx(1.0)
    for g in groups:
        assert g["weight_share_target"] == pytest.approx(g["target_share"], abs=1e-6)
    assert groups[0]["weight_share_batch"] > 2 * groups[0]["target_share"]  # windows of 1-30 targets
    assert groups[-1]["weight_share_batch"] < groups[-1]["target_share"]  # full windows


@pytest.mark.parametrize("flag, message", [
    ("--checkpoints=60,30", "--checkpoints=60,30 must be positive seconds in ascending order"),
    ("--schemes=sequence,bogus", "--schemes: unknown ['bogus']; known: sequence, prefix, prefix-defaults"),
])
def test_wallclock_benchmark_refuses_bad_flags(flag, message):
    cmd = [sys.executable, "benchmarks/wallclock_quality.py", flag]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr


@pytest.mark.parametrize("name", ["train_speed-cpu-ml-100k.json", "profile_stock-cpu-ml-100k.json",
                                  "sequence_speed-cpu-ml-1m.json", "wallclock_quality-cpu-ml-1m.json",
                                  "sequence_loss_weights-ml-1m.json"])
def test_committed_benchmark_json_renders_its_readme_table(name):
    spec = importlib.util.spec_from_file_location("speed_table", ROOT / "benchmarks" / "speed_table.py")
    speed_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed_table)
    record = json.loads((ROOT / "results" / "benchmarks" / name).read_text())
    assert record["device"] and record["date"] and record["versions"]["torch"]
    text = speed_table.RENDERERS.get(record["benchmark"], speed_table.table)(record)
    assert record["date"] in text
    # the benchmark README shows exactly what the committed JSON renders
    for block in text.strip().split("\n\n"):
        assert block in (ROOT / "results" / "benchmarks" / "README.md").read_text()
    if record["benchmark"] in ("train_speed", "sequence_speed"):  # a header row and one row per timed result
        timed = [r for r in record["results"] if r.get("variant") != "probe"]
        assert sum(line.startswith("| ") for line in text.splitlines()) == len(timed) + 1


def test_validation_benchmark_times_both_forms_of_each_model(tmp_path):
    out = tmp_path / "validation.json"
    cmd = [sys.executable, "benchmarks/validation_speed.py", "--dataset=ml-100k", "--models=SASRec,HybridDiscrete",
           "--rounds=1", "--threads=1", f"--out={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    record = json.loads(out.read_text())
    assert record["benchmark"] == "validation_speed" and 900 < record["users"] <= 943  # ml-100k after the filters
    assert [r["model"] for r in record["results"]] == ["SASRec", "HybridDiscrete"]
    for r in record["results"]:
        assert r["plain_s"] > 0 and r["fused_s"] > 0
        assert r["max_metric_difference"] <= 2e-3  # the same function: at most a near-tie moves
    spec = importlib.util.spec_from_file_location("speed_table", ROOT / "benchmarks" / "speed_table.py")
    speed_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed_table)
    rows = [line for line in speed_table.validation_table(record).splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[1].startswith("| SASRec | ")
