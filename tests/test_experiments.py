"""The comparison workflow: a tiny end-to-end `pipeline` run of every model, resume, analysis outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY
from recbole_hybrid.analysis.report import analyze
from recbole_hybrid.analysis.runs import AnalysisError, Run, best_label, load_runs
from recbole_hybrid.config import ConfigError, build_config
from recbole_hybrid.utils.compat import bare_argv
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.utils.errors import RunMismatchError
from recbole_hybrid.metrics import metrics_from_ranks
from recbole_hybrid.cli.main import main as console
from recbole_hybrid.quick_start.experiments import MODELS, PRESETS, is_done, run_comparison, run_id, seed_list

#: ml-100k cut to its 256 users with at most 20 interactions, so six models x 2 epochs take about a minute here.
E2E = {**{k: v for k, v in TINY.items() if k != "epochs"}, "user_inter_num_interval": "[5,20]"}
METRIC_COLS = [f"{m}@{k}" for m in ("ndcg", "hit", "mrr") for k in (5, 10, 20)]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The `pipeline` preset (2 epochs) for every model of ``MODELS``, one seed, then ``analyze --save_csv``."""
    out = tmp_path_factory.mktemp("e2e")
    overrides = {**E2E, "results_dir": str(out / "runs"), "checkpoint_dir": str(out / "saved"),
                 "graph_cache_dir": str(out / "graph")}
    first = run_comparison("pipeline", "ml-100k", seeds=1, overrides=overrides, progress=False)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    again = run_comparison("pipeline", "ml-100k", seeds=1, overrides=overrides, progress=False)
    tables = analyze("ml-100k", "pipeline", out / "runs", out / "results", save=True, n_boot=300)
    return {"out": out, "first": first, "again": again, "mtimes": mtimes, "tables": tables,
            "overrides": overrides}


def test_every_model_ran_with_deterministic_ids_and_saved_ranks(pipeline):
    runs = pipeline["out"] / "runs"
    assert [r["status"] for r in pipeline["first"]] == ["ran"] * len(MODELS)
    for model in MODELS:
        rid = run_id(model, "ml-100k", "pipeline", 2020)
        record = json.loads((runs / f"{rid}.json").read_text())
        assert record["run_id"] == rid and len(record["epochs"]) == PRESETS["pipeline"]["epochs"]
        assert record["selection"] == {"metric": "valid ndcg@10", "filter_seen": False}
        with np.load(runs / f"{rid}.ranks.npz") as ranks:
            assert ranks["test_rank"].shape == ranks["test_user_id"].shape == (256,)
            assert record["test"] == pytest.approx(metrics_from_ranks(ranks["test_rank"]))
            assert record["test_filter_seen"] == pytest.approx(metrics_from_ranks(ranks["test_rank_filter_seen"]))
            assert record["best_valid"] == pytest.approx(metrics_from_ranks(ranks["valid_rank"]))
            assert (ranks["test_rank_filter_seen"] <= ranks["test_rank"]).all()
            assert (ranks["test_history_length"] == ranks["valid_history_length"] + 1).all()
        alpha = runs / f"{rid}.alpha.json"
        assert alpha.is_file() == (model != "SASRec")
        if model != "SASRec":
            curve = json.loads(alpha.read_text())
            assert curve["length"] == list(range(1, TINY["MAX_ITEM_LIST_LENGTH"] + 1))
            assert all(0 < a < 1 for a in curve["alpha"])


def test_a_second_call_skips_every_finished_run(pipeline):
    assert [r["status"] for r in pipeline["again"]] == ["skipped"] * len(MODELS)
    runs = pipeline["out"] / "runs"
    assert {p.name: p.stat().st_mtime_ns for p in runs.iterdir()} == pipeline["mtimes"]


def test_a_run_without_its_ranks_is_not_done(pipeline, tmp_path):
    rid = run_id("SASRec", "ml-100k", "pipeline", 2020)
    (tmp_path / f"{rid}.json").write_text((pipeline["out"] / "runs" / f"{rid}.json").read_text())
    assert not is_done(tmp_path, rid)
    assert is_done(pipeline["out"] / "runs", rid)
    with pytest.raises(AnalysisError, match="ranks .* are missing"):
        load_runs(tmp_path, "ml-100k", "pipeline")


def test_overall_comparison_schema(pipeline):
    table = pd.read_csv(pipeline["out"] / "results" / "overall_comparison.csv")
    expected = ["model", "candidates", "n_seeds", "seeds"]
    expected += [f"{split}_{m}_{stat}" for split in ("test", "valid") for m in METRIC_COLS for stat in ("mean", "std")]
    expected += ["best_epoch_mean", "best_epoch_std", "train_time_s_mean", "train_time_s_std"]
    assert list(table.columns) == expected
    assert list(table["model"]) == [m for m in MODELS for _ in range(2)]
    assert list(table["candidates"]) == ["all_items", "seen_excluded"] * len(MODELS)
    assert (table["n_seeds"] == 1).all() and table["test_ndcg@10_std"].isna().all()  # one seed: no std
    sasrec = json.loads((pipeline["out"] / "runs" / "SASRec-ml-100k-pipeline-seed2020.json").read_text())
    assert table.loc[0, "test_ndcg@10_mean"] == pytest.approx(sasrec["test"]["ndcg@10"], rel=1e-5)
    assert table.loc[1, "test_ndcg@10_mean"] == pytest.approx(sasrec["test_filter_seen"]["ndcg@10"], rel=1e-5)


def test_length_groups_schema_and_user_counts(pipeline):
    table = pd.read_csv(pipeline["out"] / "results" / "length_groups.csv")
    expected = ["model", "candidates", "group", "length_range", "n_users"]
    expected += [f"test_{m}_{stat}" for m in METRIC_COLS for stat in ("mean", "std")]
    expected += ["baseline", "diff_seeds", "diff_test_ndcg@10", "diff_ci_low", "diff_ci_high"]
    assert list(table.columns) == expected
    assert len(table) == len(MODELS) * 2 * 3
    per_model = table.groupby(["model", "candidates"])["n_users"].sum()
    assert (per_model == 256).all()  # every tested user is in exactly one group
    with np.load(pipeline["out"] / "runs" / "SASRec-ml-100k-pipeline-seed2020.ranks.npz") as ranks:
        lengths = ranks["test_history_length"]
    first = table[(table["model"] == "SASRec") & (table["candidates"] == "all_items")].set_index("group")
    assert first.loc["short", "n_users"] == (lengths <= TINY["L_short"]).sum()
    assert first.loc["long", "n_users"] == (lengths > TINY["L_long"]).sum()
    assert first.loc["short", "length_range"] == f"L<={TINY['L_short']}"


def test_popularity_groups_split_the_users_at_their_targets_training_counts(pipeline):
    table = pd.read_csv(pipeline["out"] / "results" / "popularity_groups.csv")
    assert list(table.columns[:5]) == ["model", "candidates", "group", "count_range", "n_users"]
    assert (table.groupby(["model", "candidates"])["n_users"].sum() == 256).all()
    with np.load(pipeline["out"] / "runs" / "SASRec-ml-100k-pipeline-seed2020.ranks.npz") as ranks:
        counts = ranks["test_target_count"]
        assert ranks["valid_target_count"].shape == counts.shape == (256,) and (counts >= 0).all()
    edges = np.quantile(counts, [0.25, 0.5, 0.75], method="lower")
    first = table[(table["model"] == "SASRec") & (table["candidates"] == "all_items")].set_index("group")
    assert first.loc["Q1", "n_users"] == (counts <= edges[0]).sum()
    assert first.loc["Q4", "n_users"] == (counts > edges[2]).sum()
    assert first.loc["Q1", "count_range"] == f"n<={edges[0]}"
    assert (pipeline["out"] / "results" / "popularity_group_diffs.png").is_file()


def test_graph_groups_split_the_users_by_their_targets_graph_degrees(pipeline):
    table = pd.read_csv(pipeline["out"] / "results" / "graph_groups.csv")
    assert list(table.columns[:5]) == ["model", "candidates", "group", "target_range", "n_users"]
    with np.load(pipeline["out"] / "runs" / "SASRec-ml-100k-pipeline-seed2020.ranks.npz") as ranks:
        counts, degrees = ranks["test_target_count"], ranks["test_target_degree"]
    first = table[(table["model"] == "SASRec") & (table["candidates"] == "all_items")].set_index("group")
    assert first.loc["no edge", "n_users"] == (degrees == 0).sum()
    q1 = np.quantile(counts, 0.25, method="lower")
    assert first.loc["Q1 with edges", "n_users"] == ((degrees > 0) & (counts <= q1)).sum()
    assert first["n_users"].sum() == 256
    assert (pipeline["out"] / "results" / "graph_group_diffs.png").is_file()


def test_significance_schema(pipeline):
    table = pd.read_csv(pipeline["out"] / "results" / "significance.csv")
    assert list(table.columns) == ["model", "baseline", "candidates", "seeds", "metric", "n", "mean_a", "mean_b",
                                   "mean_diff", "t_stat", "t_p", "wilcoxon_stat", "wilcoxon_p", "ci_low", "ci_high",
                                   "direction", "seed_signs", "p_holm"]
    assert list(table["model"]) == [m for m in MODELS[1:] for _ in range(2)]
    assert (table["baseline"] == "SASRec").all() and (table["n"] == 256).all()
    assert ((table["t_p"] >= 0) & (table["t_p"] <= 1)).all()
    assert (table["p_holm"] >= table["t_p"]).all()  # one seed: every row is in Holm's family
    assert (table["ci_low"] <= table["mean_diff"]).all() and (table["mean_diff"] <= table["ci_high"]).all()


def test_plots_and_readme_are_written(pipeline):
    results = pipeline["out"] / "results"
    for name in ("learning_curves.png", "length_groups.png", "length_group_diffs.png", "alpha_curves.png"):
        assert (results / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (results / "README.md").read_text()
    for text in ("ml-100k", "all_items", "seen_excluded", "Machine: CPU", "seeds 2020", "![alpha_curves]",
                 "No cited numbers are kept for this dataset"):
        assert text in readme


def test_analyze_without_records_names_the_folder(tmp_path):
    with pytest.raises(AnalysisError, match=f"no run records .* in {tmp_path}"):
        analyze("ml-1m", "paper", tmp_path, tmp_path / "results", save=True)


def test_bad_command_lines_end_with_a_clear_error(capsys, tmp_path):
    assert console(["experiments", "fast", "--dataset=ml-100k"]) == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    assert console(["experiments", "pipeline", "--seeds=two"]) == 2
    assert "argument --seeds: 'two' must be a positive integer" in capsys.readouterr().err
    assert console(["experiments", "pipeline", "--models=SASRec,HybridFancy", f"--results_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recbole-hybrid experiments: error: unknown model 'HybridFancy'") and err.count("\n") == 1
    assert console(["experiments", "pipeline", "--model=SASRec", f"--results_dir={tmp_path}"]) == 2
    assert "use --models=A,B" in capsys.readouterr().err
    assert console(["experiments", "pipeline", "lr=0.1", f"--results_dir={tmp_path}"]) == 2
    assert "cannot read argument 'lr=0.1': write settings as --key=value" in capsys.readouterr().err
    assert console(["experiments", "analyze", f"--runs_dir={tmp_path}", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert console(["experiments", "analyze", f"--runs_dir={tmp_path}"]) == 2  # AnalysisError: one line
    assert f"recbole-hybrid experiments: error: no run records" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="seeds=0"):
        seed_list(0)
    assert seed_list(3) == [2020, 2021, 2022]
    assert run_id("SASRec", "ml-1m", "paper", 2020, filter_seen=True) == "SASRec-ml-1m-paper-fs-seed2020"


def test_a_run_interrupted_after_training_resumes_from_its_last_state(pipeline):
    """Last in this file: it rewrites one run of the shared pipeline."""
    rid = run_id("HybridDiscrete", "ml-100k", "pipeline", 2020)
    runs = pipeline["out"] / "runs"
    before = json.loads((runs / f"{rid}.json").read_text())
    (runs / f"{rid}.json").unlink()  # as if killed before the record was written; saved/<rid>/last.pth remains
    again = run_comparison("pipeline", "ml-100k", seeds=1, models=["HybridDiscrete"],
                           overrides=pipeline["overrides"], progress=False)
    assert [r["status"] for r in again] == ["resumed"]
    after = json.loads((runs / f"{rid}.json").read_text())
    assert after["test"] == before["test"] and after["best_epoch"] == before["best_epoch"]
    assert after["epochs"] == before["epochs"]


def test_filter_seen_selects_on_the_filtered_validation_ndcg(tmp_path):
    from recbole_hybrid.utils.records import load_checkpoint
    from recbole_hybrid.quick_start.runner import run_experiment

    record = run_experiment("SASRec", "ml-100k", [], {**E2E, "epochs": 2, "filter_seen": True,
                                                      "results_dir": str(tmp_path / "r"),
                                                      "checkpoint_dir": str(tmp_path / "s")},
                            run_id="fs", log=lambda line: None)
    assert record["selection"] == {"metric": "valid ndcg@10", "filter_seen": True}
    best = load_checkpoint(tmp_path / "s" / "fs" / "best.pth")
    assert best["valid"] == pytest.approx(record["best_valid_filter_seen"])
    assert best["valid"]["ndcg@10"] != pytest.approx(record["best_valid"]["ndcg@10"])


def test_a_finished_run_with_other_settings_is_refused_not_skipped(pipeline):
    changed = {**pipeline["overrides"], "learning_rate": 0.01}
    with pytest.raises(RunMismatchError, match=r"SASRec-ml-100k-pipeline-seed2020 .* other settings "
                                               r"\(learning_rate 0\.001 -> 0\.01\): not skipped"):
        run_comparison("pipeline", "ml-100k", seeds=1, models=["SASRec"], overrides=changed, progress=False)


@pytest.mark.parametrize("label, model, settings", [
    ("HybridDiscrete-nograph", "HybridDiscrete", {"gnn_layers": 0}),
    ("HybridResidual-fused", "HybridResidual", {"score_table": "fused", "gnn_layers": 2}),
    ("HybridResidual-fused-nograph", "HybridResidual", {"score_table": "fused", "gnn_layers": 0}),
    ("HybridContinuous-nograph", "HybridContinuous", {"gnn_layers": 0}),
    ("HybridDiscrete-shared", "HybridDiscrete", {"graph_table": "shared"})])
def test_a_control_or_variant_label_trains_its_model_with_its_settings(tmp_path, label, model, settings):
    overrides = {**E2E, "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                 "graph_cache_dir": str(tmp_path / "graph"), "epochs": 1}
    (done,) = run_comparison("pipeline", "ml-100k", seeds=1, models=[label], overrides=overrides, progress=False)
    record = json.loads((tmp_path / "runs" / f"{done['run_id']}.json").read_text())
    assert done["run_id"] == f"{label}-ml-100k-pipeline-seed2020"
    assert (record["model"], record["label"]) == (model, label)
    assert {key: record["config"][key] for key in settings} == settings
    curve = json.loads((tmp_path / "runs" / f"{done['run_id']}.alpha.json").read_text())
    assert len(curve["alpha"]) == record["config"]["MAX_ITEM_LIST_LENGTH"]
    if settings.get("item_gate") == "learned":  # one gate per item, trained away from its start at 1
        assert len(curve["item_gate"]) == record["data"]["items"] + 1 and 0 < min(curve["item_gate"]) < 1 < max(
            curve["item_gate"]) < 2
    else:
        assert "item_gate" not in curve


def test_a_published_preset_needs_its_frozen_config_file(tmp_path):
    with pytest.raises(ConfigError, match="preset 'paper' takes its settings and budget from --config_files"):
        run_comparison("paper", "ml-100k", seeds=1, overrides={"results_dir": str(tmp_path)}, progress=False)


def test_ablate_on_the_command_line_refuses_runs_of_two_models_in_one_line(capsys):
    runs = PROJECT_ROOT / "results" / "runs"
    assert console(["experiments", "ablate", f"--a={runs}/HybridFixed-ml-1m-literature-fs-seed2020.json",
                    f"--b={runs}/SASRec-ml-1m-literature-fs-seed2020.json", "--keys=sequence_loss_weight"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differ outside --keys=sequence_loss_weight: fixed_alpha (0.5 vs None)" in err
    assert "model ('HybridFixed' vs 'SASRec')" in err


def test_own_runs_land_in_saved_and_published_comparisons_in_results(monkeypatch, tmp_path):
    """A first try leaves ``git status`` clean: ``results_dir`` defaults to ``saved/runs``; a published preset's
    records go to the committed ``results/runs`` unless ``--results_dir`` is given."""
    from recbole_hybrid.quick_start import experiments

    with bare_argv():
        assert Path(build_config("SASRec", "ml-100k", [], {})["results_dir"]).parts[-2:] == ("saved", "runs")
    seen = []

    class Stop(Exception):
        pass

    def fake_build_config(model, dataset, files, settings):
        seen.append(settings.get("results_dir"))
        raise Stop

    monkeypatch.setattr(experiments, "build_config", fake_build_config)
    frozen = str(tmp_path / "frozen.yaml")
    for preset, files, overrides, expected in [("literature-target", [frozen], {}, "results/runs"),
                                              ("literature-target", [frozen], {"results_dir": "elsewhere"}, "elsewhere"),
                                              ("pipeline", None, {}, None)]:
        with pytest.raises(Stop):
            experiments.run_comparison(preset, "ml-100k", seeds=1, models=["SASRec"], config_files=files,
                                       overrides=overrides, progress=False)
        assert seen[-1] == expected


def test_analyze_reads_the_records_where_the_preset_put_them():
    from recbole_hybrid.quick_start.experiments import default_runs_dir

    assert default_runs_dir("literature-target-fs") == default_runs_dir("paper") == "results/runs"
    assert default_runs_dir("pipeline") == default_runs_dir("quick-fs") == "saved/runs"


def scored_run(label: str, seed: int, valid: float, test: float) -> Run:
    """A run of ``label`` and ``seed`` selected on validation NDCG@10 with seen items excluded (``valid``)."""
    record = {"label": label, "model": label.split("-")[0], "seed": seed, "run_id": f"{label}-{seed}",
              "selection": {"metric": "valid ndcg@10", "filter_seen": True},
              "best_valid": {"ndcg@10": 0.0}, "best_valid_filter_seen": {"ndcg@10": valid},
              "test_filter_seen": {"ndcg@10": test}}
    return Run(record, {}, None)


def test_best_label_takes_the_mean_validation_score_over_the_seeds_never_the_test():
    runs = [scored_run("A", 2020, 0.15, 0.20), scored_run("A", 2021, 0.13, 0.20), scored_run("A", 2022, 0.50, 0.9),
            scored_run("B", 2020, 0.145, 0.10), scored_run("B", 2021, 0.14, 0.10)]
    label, means = best_label(runs, ["A", "B"], [2020, 2021])  # A's seed 2022 is not one of the seeds
    assert label == "B" and means == pytest.approx({"A": 0.14, "B": 0.1425})
    assert best_label(runs, ["A", "B"], [2020])[0] == "A"
    assert best_label([scored_run("A", 2020, 0.1, 0), scored_run("B", 2020, 0.1, 0)], ["B", "A"], [2020])[0] == "B"
    with pytest.raises(AnalysisError, match="B has no run of seed 2022 yet: the best label is chosen once all 3"):
        best_label(runs, ["A", "B"], [2020, 2021, 2022])


def test_experiments_best_names_the_label_from_the_committed_records(capsys, tmp_path):
    """The committed tuned records (validation NDCG@10 with seen items excluded: HybridDiscrete seed 2020 0.1523,
    HybridResidual-fused seed 2020 0.1515) through the command line, which refuses while a seed is missing."""
    for stem in ("HybridDiscrete-ml-1m-tuned-fs-seed2020", "HybridResidual-fused-ml-1m-tuned-fs-seed2020"):
        for suffix in (".json", ".ranks.npz"):
            shutil.copy(PROJECT_ROOT / "results" / "runs" / f"{stem}{suffix}", tmp_path)
    argv = ["experiments", "best", "--preset=tuned-fs", f"--runs_dir={tmp_path}",
            "--models=HybridResidual-fused,HybridDiscrete"]
    assert console([*argv, "--seeds=1"]) == 0
    out, err = capsys.readouterr()
    assert out == "HybridDiscrete\n" and "HybridResidual-fused: mean best validation 0.1515 over 1 seed(s)" in err
    assert console(argv) == 2
    assert "error: HybridResidual-fused has no run of seed 2021, 2022 yet" in capsys.readouterr().err
