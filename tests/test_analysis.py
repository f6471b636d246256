"""The analysis on synthetic run records: labels, protocol refusal, Holm, per-seed signs, length-group bootstrap,
learned a(L), the generated README's sentences, and the one-way imports of the analysis modules."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbole_hybrid.analysis import tables as analysis
from recbole_hybrid.analysis.ablation import ablate
from recbole_hybrid.metrics import per_user_metric
from recbole_hybrid.analysis.findings import findings
from recbole_hybrid.analysis.report import analyze
from recbole_hybrid.analysis.summary import summary_markers
from recbole_hybrid.analysis.runs import AnalysisError, check_one_protocol, load_run, load_runs, model_order
from recbole_hybrid.analysis.stats import bootstrap_mean_ci, holm

N_SHORT, N_MID, N_LONG = 20, 80, 200  # users with L <= 10, 10 < L <= 30, L > 30
SEEDS = (2020, 2021, 2022)
CONFIG = {"L_short": 10, "L_long": 30, "MAX_ITEM_LIST_LENGTH": 50, "val_interval": {"rating": "[4,inf)"},
          "user_inter_num_interval": "[5,inf)", "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO"},
          "epochs": 200, "stopping_step": 20, "train_batch_size": 256, "learning_rate": 0.001, "hidden_size": 64,
          "loss_type": "CE", "filter_seen": True, "device": "cpu", "gpu_id": "0", "data_path": "dataset",
          "checkpoint_dir": "saved", "eval_batch_size": 4096}
HYBRID = {"gnn_layers": 2, "graph_window": 3, "graph_min_count": 5, "score_table": "id"}
COMMAND = ["experiments.py", "paper", "--dataset=ml-1m", "--config_files=configs/ml-1m/frozen.yaml"]


def _lengths() -> np.ndarray:
    return np.concatenate([np.full(N_SHORT, 5), np.full(N_MID, 20), np.full(N_LONG, 40)])


def _base_ranks(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(2, 60, N_SHORT + N_MID + N_LONG)


def write_run(folder: Path, model: str, seed: int, test_rank: np.ndarray, label: str | None = None,
              config: dict | None = None, alpha: list[float] | None = None, dataset: str = "ml-1m",
              target_count: np.ndarray | None = None, target_degree: np.ndarray | None = None) -> str:
    """A run record, its ranks (with ``target_count``/``target_degree``: the training counts and graph degrees of
    the targets too) and (with ``alpha``) its a(L) curve, as experiments.py writes them."""
    name = label or model
    rid = f"{name}-{dataset}-paper-seed{seed}"
    users = np.arange(1, len(test_rank) + 1)
    lengths = _lengths()
    np.savez_compressed(folder / f"{rid}.ranks.npz", test_user_id=users, test_history_length=lengths,
                        test_rank=test_rank + 1, test_rank_filter_seen=test_rank, valid_user_id=users,
                        valid_history_length=lengths - 1, valid_rank=test_rank + 2, valid_rank_filter_seen=test_rank,
                        **({} if target_count is None else {"test_target_count": target_count,
                                                             "valid_target_count": target_count + 1}),
                        **({} if target_degree is None else {"test_target_degree": target_degree,
                                                              "valid_target_degree": target_degree}))
    record = {"run_id": rid, "model": model, "dataset": dataset, "seed": seed, "date": f"2026-12-0{seed - 2019}T10:00:00",
              "command": COMMAND, "device": "CPU x86_64 (2 cores)" if seed != 2022 else "NVIDIA H100",
              "versions": {"torch": "2.13.0", "recbole": "1.2.1", "git_commit": "abc123"},
              "data": {"users": len(users), "items": 100, "interactions": 5000}, "trainer": "fast",
              "epochs": [{"train_loss": 5.0 - e, "valid": {"ndcg@10": 0.01 * e}} for e in range(3)],
              "best_epoch": 2, "train_time_s": 10.0, "selection": {"metric": "valid ndcg@10", "filter_seen": True},
              "ranks_file": f"{rid}.ranks.npz",
              "config": {**CONFIG, **({} if model == "SASRec" else HYBRID), **(config or {}), "seed": seed,
                         "model": model}}
    if label:
        record["label"] = label
    (folder / f"{rid}.json").write_text(json.dumps(record))
    if alpha is not None:
        (folder / f"{rid}.alpha.json").write_text(json.dumps(
            {"run_id": rid, "model": model, "seed": seed, "length": list(range(1, len(alpha) + 1)), "alpha": alpha}))
    return rid


def write_grid(folder: Path, control_like: str = "SASRec") -> Path:
    """SASRec; HybridDiscrete better on long histories only; HybridLearnable better in two seeds, worse in one;
    HybridContinuous identical to SASRec; the control HybridDiscrete-nograph ranks like ``control_like``."""
    folder.mkdir(parents=True, exist_ok=True)
    long = _lengths() > 30
    for seed in SEEDS:
        base = _base_ranks(seed)
        better_long = np.where(long, 1, base)
        learnable = np.maximum(base // 3, 1) if seed != 2022 else base * 2
        write_run(folder, "SASRec", seed, base, config={"device": "cuda", "gpu_id": "1"})  # ignored keys differ
        write_run(folder, "HybridDiscrete", seed, better_long, config={"alpha_short": 0.3})
        write_run(folder, "HybridLearnable", seed, learnable, alpha=[0.2 + 0.1 * (seed - 2020)] * 50)
        write_run(folder, "HybridContinuous", seed, base.copy(), alpha=list(np.linspace(0.3, 0.8, 50)))
        write_run(folder, "HybridDiscrete", seed, better_long if control_like == "HybridDiscrete" else base.copy(),
                  label="HybridDiscrete-nograph", config={"alpha_short": 0.3, "gnn_layers": 0})
    return folder


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    folder = write_grid(tmp_path_factory.mktemp("grid") / "runs")
    runs = load_runs(folder, "ml-1m", "paper")
    return folder, runs, analysis.tables(runs, n_boot=300)


def test_runs_are_grouped_by_label_and_ordered_baseline_hybrids_controls(grid):
    _, runs, tables = grid
    order = ["SASRec", "HybridDiscrete", "HybridLearnable", "HybridContinuous", "HybridDiscrete-nograph"]
    assert model_order(runs) == order
    overall = tables["overall_comparison"]
    assert list(overall["model"]) == [m for m in order for _ in range(2)]
    assert (overall["n_seeds"] == 3).all()
    control = [r for r in runs if r.label == "HybridDiscrete-nograph"]
    assert len(control) == 3 and {r.model for r in control} == {"HybridDiscrete"}


def test_significance_has_holm_over_the_main_rows_and_each_seeds_sign(grid):
    _, _, tables = grid
    sig = tables["significance"]
    main = sig[sig["p_holm"].notna()]
    # 4 labels against SASRec and HybridDiscrete against its control, each for both candidate sets
    assert len(main) == 10 and (main["seeds"] == "pooled").all()
    assert sig[sig["seeds"] != "pooled"]["p_holm"].isna().all()
    assert main["p_holm"].tolist() == pytest.approx(holm(main["t_p"].to_numpy()).tolist())
    assert (main["p_holm"] >= main["t_p"]).all()
    rows = sig.set_index(["model", "baseline", "candidates", "seeds"])
    learnable = rows.loc[("HybridLearnable", "SASRec", "seen_excluded")]
    assert learnable.loc["pooled", "seed_signs"] == "+ + -"
    assert list(learnable.loc[["2020", "2021", "2022"], "direction"]) == ["+", "+", "-"]
    graph = rows.loc[("HybridDiscrete", "HybridDiscrete-nograph", "seen_excluded", "pooled")]
    assert graph["mean_diff"] > 0 and graph["p_holm"] < 0.05
    same = rows.loc[("HybridContinuous", "SASRec", "seen_excluded", "pooled")]
    assert same["mean_diff"] == 0 and same["p_holm"] == 1 and same["seed_signs"] == "0 0 0"


def test_length_groups_carry_a_seeded_bootstrap_interval_of_the_difference(grid):
    _, runs, tables = grid
    groups = tables["length_groups"].set_index(["model", "candidates", "group"])
    assert groups.loc[("SASRec", "seen_excluded", "short"), "n_users"] == N_SHORT
    assert pd.isna(groups.loc[("SASRec", "seen_excluded", "long"), "diff_test_ndcg@10"])
    discrete = groups.loc[("HybridDiscrete", "seen_excluded")]
    assert discrete.loc["long", "diff_ci_low"] > 0  # planted: better on long histories only
    assert (discrete.loc[["short", "mid"], ["diff_test_ndcg@10", "diff_ci_low", "diff_ci_high"]] == 0).all().all()
    # the interval is the bootstrap of the seed-averaged per-user differences of the group, seed 0, 2000 draws
    long = _lengths() > 30
    diff = np.mean([per_user_metric(np.where(long, 1, _base_ranks(s))[long], "ndcg@10")
                    - per_user_metric(_base_ranks(s)[long], "ndcg@10") for s in SEEDS], axis=0)
    assert discrete.loc["long", "diff_test_ndcg@10"] == pytest.approx(diff.mean())
    assert (discrete.loc["long", "diff_ci_low"], discrete.loc["long", "diff_ci_high"]) == \
        pytest.approx(bootstrap_mean_ci(diff, n_boot=analysis.GROUP_BOOTSTRAP, seed=analysis.BOOTSTRAP_SEED))
    assert analysis.length_groups(runs).equals(tables["length_groups"])  # deterministic
    other = analysis.length_groups(runs, seed=1).set_index(["model", "candidates", "group"])
    assert other.loc[("HybridDiscrete", "seen_excluded", "long"), "diff_ci_low"] != \
        discrete.loc["long", "diff_ci_low"]


def _target_counts() -> np.ndarray:
    """75 users each with a target seen 1, 5, 20 and 100 times in training, shuffled over the 300 users."""
    return np.random.default_rng(7).permutation(np.repeat([1, 5, 20, 100], 75))


def test_popularity_groups_split_users_at_the_quartiles_of_their_targets_counts(tmp_path):
    counts = _target_counts()
    rare = counts == 1
    for seed in SEEDS[:2]:
        base = _base_ranks(seed)
        write_run(tmp_path, "SASRec", seed, base, target_count=counts)
        write_run(tmp_path, "HybridDiscrete", seed, np.where(rare, 1, base), target_count=counts)  # rare targets only
    runs = load_runs(tmp_path, "ml-1m", "paper")
    table = analysis.popularity_groups(runs, n_boot=300).set_index(["model", "candidates", "group"])
    sasrec = table.loc[("SASRec", "seen_excluded")]
    assert list(sasrec.index) == list(analysis.POPULARITY_GROUPS) and (sasrec["n_users"] == 75).all()
    assert list(sasrec["count_range"]) == ["n<=1", "1<n<=5", "5<n<=20", "n>20"]
    discrete = table.loc[("HybridDiscrete", "seen_excluded")]
    assert discrete.loc["Q1", "diff_ci_low"] > 0
    assert (discrete.loc[["Q2", "Q3", "Q4"], ["diff_test_ndcg@10", "diff_ci_low", "diff_ci_high"]] == 0).all().all()
    diff = np.mean([per_user_metric(np.ones(75, int), "ndcg@10") - per_user_metric(_base_ranks(s)[rare], "ndcg@10")
                    for s in SEEDS[:2]], axis=0)
    assert discrete.loc["Q1", "diff_test_ndcg@10"] == pytest.approx(diff.mean())
    text = " ".join(findings(runs, analysis.tables(runs, n_boot=300)))
    assert ("By the test target's popularity (n: its training interactions; Q1 the rarest quarter), HybridDiscrete "
            "minus SASRec") in text and "So: above SASRec in Q1; no clear difference" in text
    # a run whose counts disagree was made on another split
    write_run(tmp_path, "HybridFixed", SEEDS[0], _base_ranks(SEEDS[0]), target_count=counts[::-1].copy())
    with pytest.raises(AnalysisError, match="disagree on the training counts of their test targets"):
        analysis.popularity_groups(load_runs(tmp_path, "ml-1m", "paper"))


def test_graph_groups_separate_rare_targets_without_an_edge_from_rare_targets_with_edges(tmp_path):
    counts = _target_counts()
    # the rarest targets: a third without an edge in the graph; one target of Q2 without an edge too
    rare = np.flatnonzero(counts == 1)
    degree = np.where(counts == 1, 3, 50)
    degree[rare[:25]] = 0
    degree[np.flatnonzero(counts == 5)[0]] = 0
    linked_rare = (counts == 1) & (degree > 0)
    for seed in SEEDS[:2]:
        base = _base_ranks(seed)
        write_run(tmp_path, "SASRec", seed, base, target_count=counts, target_degree=degree)
        # better on the rare targets the graph reaches only
        write_run(tmp_path, "HybridDiscrete", seed, np.where(linked_rare, 1, base), target_count=counts,
                  target_degree=degree)
    runs = load_runs(tmp_path, "ml-1m", "paper")
    tables = analysis.tables(runs, n_boot=300)
    table = tables["graph_groups"].set_index(["model", "candidates", "group"])
    sasrec = table.loc[("SASRec", "seen_excluded")]
    assert list(sasrec.index) == list(analysis.GRAPH_GROUPS)
    assert list(sasrec["n_users"]) == [26, 50, 224]  # no edge: 25 rare + 1 of Q2, whatever its count
    assert list(sasrec["target_range"]) == ["degree 0", "degree>0, n<=1", "degree>0, n>1"]
    discrete = table.loc[("HybridDiscrete", "seen_excluded")]
    assert discrete.loc["Q1 with edges", "diff_ci_low"] > 0
    assert (discrete.loc[["no edge", "Q2-Q4 with edges"], "diff_test_ndcg@10"] == 0).all()
    diff = np.mean([per_user_metric(np.ones(50, int), "ndcg@10")
                    - per_user_metric(_base_ranks(s)[linked_rare], "ndcg@10") for s in SEEDS[:2]], axis=0)
    assert discrete.loc["Q1 with edges", "diff_test_ndcg@10"] == pytest.approx(diff.mean())
    text = " ".join(findings(runs, tables))
    assert "By whether the test target has an edge in the default item graph" in text
    assert "So: above SASRec in Q1 with edges; no clear difference (the interval holds 0) in no edge" in text
    # a run whose degrees disagree was made on another split (or another graph)
    write_run(tmp_path, "HybridFixed", SEEDS[0], _base_ranks(SEEDS[0]), target_count=counts,
              target_degree=degree[::-1].copy())
    with pytest.raises(AnalysisError, match="disagree on the graph degrees of their test targets"):
        analysis.graph_groups(load_runs(tmp_path, "ml-1m", "paper"))


def test_graph_groups_are_empty_without_degrees_and_the_readme_says_how_to_get_them(tmp_path):
    counts = _target_counts()
    for seed in SEEDS[:1]:
        write_run(tmp_path, "SASRec", seed, _base_ranks(seed), target_count=counts)
        write_run(tmp_path, "HybridDiscrete", seed, _base_ranks(seed + 5), target_count=counts)
    runs = load_runs(tmp_path, "ml-1m", "paper")
    assert analysis.graph_groups(runs).empty and not analysis.popularity_groups(runs).empty
    out = tmp_path / "out"
    analyze("ml-1m", "paper", tmp_path, out, save=True, n_boot=300)
    readme = (out / "README.md").read_text()
    assert ("Not computed: 2 of the 2 records' ranks lack the graph degrees of their test targets (saved before "
            "runs wrote them; first: HybridDiscrete-ml-1m-paper-seed2020)") in readme
    assert (out / "popularity_groups.csv").exists() and not (out / "graph_group_diffs.png").exists()


def test_the_graph_section_says_how_many_targets_have_no_edge(tmp_path):
    counts = _target_counts()
    degree = np.where(counts == 1, 0, 7)  # the 75 rarest targets have no edge: a quarter of the users
    for seed in SEEDS[:1]:
        write_run(tmp_path, "SASRec", seed, _base_ranks(seed), target_count=counts, target_degree=degree)
        write_run(tmp_path, "HybridDiscrete", seed, _base_ranks(seed + 5), target_count=counts, target_degree=degree)
    out = tmp_path / "out"
    analyze("ml-1m", "paper", tmp_path, out, save=True, n_boot=300)
    readme = (out / "README.md").read_text()
    assert "## By whether the test target is in the item graph" in readme
    assert "(graph_window 3, graph_min_count 5, built from the training split)" in readme
    assert "The `no edge` group holds 75 of 300 test users (25.0%)." in readme
    assert (out / "graph_groups.csv").exists() and (out / "graph_group_diffs.png").exists()


def test_without_target_counts_the_popularity_groups_say_how_to_get_them(grid, tmp_path):
    _, runs, tables = grid
    assert tables["popularity_groups"].empty
    analyze("ml-1m", "paper", grid[0], tmp_path, save=True, n_boot=300)
    readme = (tmp_path / "README.md").read_text()
    assert "Not computed: 15 of the 15 records' ranks lack the training counts of their test targets" in readme
    assert "Runs write them now: re-run these to get the table" in readme
    assert not (tmp_path / "popularity_groups.csv").exists()
    # 4 labels x 3 length groups of intervals, none corrected for the others: the README says how many
    assert ("The 12 seen_excluded intervals below are each a 95% interval, not corrected for the others (unlike the "
            "Holm-corrected tests): by chance alone about 0.6 of them would exclude 0") in readme


def test_learned_alpha_curves_per_seed(grid):
    _, _, tables = grid
    curves = tables["alpha_curves"]
    assert list(curves["model"].drop_duplicates()) == ["HybridLearnable", "HybridContinuous"]
    assert curves.groupby("model")["seed"].unique().map(list).to_dict() == \
        {"HybridLearnable": list(SEEDS), "HybridContinuous": list(SEEDS)}
    assert len(curves) == 2 * 3 * 50


def test_a_run_with_another_recipe_is_refused_naming_it_and_the_keys(tmp_path):
    folder = write_grid(tmp_path / "runs")
    write_run(folder, "HybridFixed", 2020, _base_ranks(2020), config={"epochs": 50, "learning_rate": 5e-4,
                                                                      "fixed_alpha": 0.5}, alpha=[0.5] * 50)
    with pytest.raises(AnalysisError) as err:
        load_runs(folder, "ml-1m", "paper")
    message = str(err.value)
    assert "\n" not in message
    assert "HybridFixed-ml-1m-paper-seed2020 differs in epochs (50 vs 200), learning_rate (0.0005 vs 0.001)" in message
    assert message.count("differs") == 1  # only the odd run is named; ignored and model keys (device, gnn_layers) pass


def test_a_record_missing_a_compared_key_or_from_other_data_is_refused(tmp_path):
    folder = write_grid(tmp_path / "runs")
    path = folder / "SASRec-ml-1m-paper-seed2021.json"
    record = json.loads(path.read_text())
    del record["config"]["L_long"]
    record["data"]["users"] = 299
    path.write_text(json.dumps(record))
    with pytest.raises(AnalysisError, match=r"SASRec-ml-1m-paper-seed2021 differs in L_long \(missing vs 30\), "
                                            r"data.users \(299 vs 300\)"):
        load_runs(folder, "ml-1m", "paper")


def test_records_with_and_without_fused_layers_compare(tmp_path):
    """Records from before ``fused_layers`` (RecBole's kernels) sit in one table with records that fused them."""
    folder = write_grid(tmp_path / "runs")
    every = len(load_runs(folder, "ml-1m", "paper"))
    for seed, fused in ((2021, True), (2022, False)):
        path = folder / f"SASRec-ml-1m-paper-seed{seed}.json"
        record = json.loads(path.read_text())
        record["config"]["fused_layers"] = fused
        path.write_text(json.dumps(record))
    assert len(load_runs(folder, "ml-1m", "paper")) == every


def test_a_record_older_than_train_mode_counts_as_prefix_rows(tmp_path):
    """The grid's records have no ``train_mode``: with a newer prefix record they agree, with a sequence one not."""
    folder = write_grid(tmp_path / "runs")
    path = folder / "SASRec-ml-1m-paper-seed2021.json"
    record = json.loads(path.read_text())
    record["config"].update(train_mode="prefix", sequence_batch_default=128, prefix_batch_default=2048)
    path.write_text(json.dumps(record))
    load_runs(folder, "ml-1m", "paper")  # the defaults auto picks from are not compared: the batch used is
    record["config"]["train_mode"] = "sequence"
    path.write_text(json.dumps(record))
    # (a sequence record also holds the keys only sequence mode reads, such as ce_bf16 and sequence_loss_weight)
    with pytest.raises(AnalysisError, match=r"SASRec-ml-1m-paper-seed2021 differs in ce_bf16 \(false vs missing\), "
                                            r"sequence_loss_weight .*, "
                                            r'train_mode \("sequence" vs "prefix"\)'):
        load_runs(folder, "ml-1m", "paper")


def test_bad_files_are_refused_with_their_path(tmp_path):
    folder = write_grid(tmp_path / "runs")
    (folder / "HybridContinuous-ml-1m-paper-seed2020.alpha.json").unlink()
    runs = load_runs(folder, "ml-1m", "paper")
    with pytest.raises(AnalysisError, match="HybridContinuous-ml-1m-paper-seed2020.alpha.json is missing"):
        analysis.alpha_curves(runs)
    (folder / "HybridLearnable-ml-1m-paper-seed2021.alpha.json").write_text(json.dumps({"length": [1, 2],
                                                                                        "alpha": [0.5, 1.5]}))
    with pytest.raises(AnalysisError, match="seed2021.alpha.json: expected .* every alpha in \\[0, 1\\]"):
        load_runs(folder, "ml-1m", "paper")
    (folder / "HybridLearnable-ml-1m-paper-seed2021.alpha.json").unlink()
    (folder / "SASRec-ml-1m-paper-seed2020.json").write_text("{not json")
    with pytest.raises(AnalysisError, match="SASRec-ml-1m-paper-seed2020.json: not valid JSON"):
        load_runs(folder, "ml-1m", "paper")
    (folder / "SASRec-ml-1m-paper-seed2020.json").write_text(json.dumps({"run_id": "x", "model": "SASRec"}))
    with pytest.raises(AnalysisError, match="not a complete run record, missing seed, dataset"):
        load_runs(folder, "ml-1m", "paper")


def test_a_control_pairs_with_the_label_it_differs_from_in_gnn_layers_alone(tmp_path):
    """A variant's control is compared with the variant, not with the variant's plain class; a run that differs from
    every label in more than ``gnn_layers`` is no one's control."""
    folder = write_grid(tmp_path / "runs")
    for seed in SEEDS:
        base = _base_ranks(seed)
        write_run(folder, "HybridResidual", seed, base)
        write_run(folder, "HybridResidual", seed, base, label="HybridResidual-fused", config={"score_table": "fused"})
        write_run(folder, "HybridResidual", seed, base, label="HybridResidual-fused-nograph",
                  config={"score_table": "fused", "gnn_layers": 0})
        write_run(folder, "HybridLearnable", seed, base, label="HybridLearnable-wide-nograph",
                  config={"gnn_layers": 0, "graph_window": 5})
    runs = load_runs(folder, "ml-1m", "paper")
    assert analysis.graph_controls(runs) == [("HybridDiscrete", "HybridDiscrete-nograph"),
                                             ("HybridResidual-fused", "HybridResidual-fused-nograph")]
    pairs = analysis.comparisons(runs)
    assert ("HybridResidual", "HybridResidual-fused-nograph") not in pairs
    assert ("HybridLearnable-wide-nograph", "SASRec") in pairs  # still compared with SASRec
    assert not any(control == "HybridLearnable-wide-nograph" for _, control in pairs)


def test_findings_summarise_the_learned_item_gates(tmp_path):
    folder = write_grid(tmp_path / "runs")
    gates = [1.0] + [0.5] * 10 + [1.5] * 30  # padding id 0, then 10 items that took less graph, 30 more
    for seed in SEEDS:
        rid = write_run(folder, "HybridResidual", seed, _base_ranks(seed), label="HybridResidual-fused-itemgate",
                        config={"item_gate": "learned", "score_table": "fused"}, alpha=[0.6] * 50)
        curve = json.loads((folder / f"{rid}.alpha.json").read_text())
        (folder / f"{rid}.alpha.json").write_text(json.dumps({**curve, "item_gate": gates}))
    runs = load_runs(folder, "ml-1m", "paper")
    summary = analysis.item_gate_summary(runs)
    assert list(summary["model"]) == ["HybridResidual-fused-itemgate"] * 3
    assert summary["median"].tolist() == [1.5] * 3 and summary["below_1"].tolist() == pytest.approx([0.25] * 3)
    text = "\n".join(findings(runs, analysis.tables(runs, n_boot=200)))
    assert ("HybridResidual-fused-itemgate's item gates g_i (the graph of item i weighs (1 - a(L)) g_i; every g_i "
            "starts at 1), over the items: seed 2020: median 1.50, 5-95% 0.50 to 1.50, 25% below 1;") in text
    assert text.count("item gates") == 1  # no gate sentence for the labels without gates


def test_two_runs_of_one_label_and_seed_are_refused(tmp_path):
    folder = write_grid(tmp_path / "runs")
    write_run(folder, "HybridDiscrete", 2020, _base_ranks(2020), label="HybridDiscrete-nograph2",
              config={"gnn_layers": 0})
    record = json.loads((folder / "HybridDiscrete-nograph2-ml-1m-paper-seed2020.json").read_text())
    del record["label"]  # now it claims to be plain HybridDiscrete, seed 2020, like another run
    (folder / "HybridDiscrete-nograph2-ml-1m-paper-seed2020.json").write_text(json.dumps(record))
    with pytest.raises(AnalysisError, match="are both HybridDiscrete with seed 2020"):
        load_runs(folder, "ml-1m", "paper")


def test_readme_states_provenance_anchors_and_findings_that_follow_the_numbers(tmp_path, capsys):
    folder = write_grid(tmp_path / "results" / "runs")
    (tmp_path / "results" / "demo").mkdir()
    (tmp_path / "results" / "demo" / "README.md").write_text("# Results: a demo\n")
    analyze("ml-1m", "paper", folder, tmp_path / "results", save=True, n_boot=300,
            command=["python -m recbole_hybrid experiments analyze", "--save_csv"])
    out = tmp_path / "results"
    for name in ("overall_comparison", "length_groups", "significance", "alpha_curves"):
        assert (out / f"{name}.csv").is_file()
    for name in ("learning_curves", "length_groups", "length_group_diffs", "alpha_curves"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (out / "README.md").read_text()
    for text in ("`python -m recbole_hybrid experiments analyze --save_csv`", "`configs/ml-1m/frozen.yaml`",
                 "CPU x86_64 (2 cores) (10 runs); NVIDIA H100 (5 runs)", "2026-12-01T10:00:00 to 2026-12-03T10:00:00",
                 "seeds 2020 2021 2022", "| SASRec | seen_excluded (primary) | 3 |", "0.183 / 0.370 / 0.165",
                 "HSTU-large", "citations kept in `recbole_hybrid/analysis/anchors.py`",
                 "**HybridDiscrete beats SASRec**", "**HybridLearnable beats SASRec**",
                 "2 of 3 seeds above SASRec: the seeds disagree in direction",
                 "HybridContinuous does not differ significantly from SASRec",
                 "So: above SASRec in long; no clear difference (the interval holds 0) in short, mid",
                 "The short group (L<=10) holds 20 of 300 test users (6.7%): it is small",
                 "**The graph helps**: HybridDiscrete (gnn_layers=2) against its control HybridDiscrete-nograph",
                 "- [`demo/`](demo/README.md): Results: a demo",
                 "the learned a(L) of every run of HybridLearnable, HybridContinuous, one line per seed"):
        assert text in readme, text
    assert "seeds disagree" not in readme.split("**HybridDiscrete beats SASRec**")[1].split("\n")[0]
    assert re.search(r"\*\*The graph helps\*\*: .*; \d of 3 seeds above HybridDiscrete-nograph\.", readme)


def test_findings_say_when_only_the_extra_table_helps_and_when_no_control_ran(tmp_path):
    folder = write_grid(tmp_path / "runs", control_like="HybridDiscrete")
    runs = load_runs(folder, "ml-1m", "paper")
    text = "\n".join(findings(runs, analysis.tables(runs, n_boot=200)))
    assert "The graph's effect is not significant after Holm's correction: HybridDiscrete" in text
    assert re.search(r"Holm-adjusted p = [^)]*\); \d of 3 seeds above HybridDiscrete-nograph", text)
    assert "The control alone is significantly above SASRec, so what helps is the extra embedding table" in text
    for path in folder.glob("HybridDiscrete-nograph-*"):
        path.unlink()
    runs = load_runs(folder, "ml-1m", "paper")
    text = "\n".join(findings(runs, analysis.tables(runs, n_boot=200)))
    assert "No control run" in text and "graph's effect" not in text


def test_findings_say_what_each_learned_a_became_per_length_group(grid, tmp_path):
    _, runs, tables = grid
    text = "\n".join(findings(runs, tables))
    # HybridLearnable: a constant 0.2, 0.3, 0.4 in seeds 2020-2022; no starting values in its config
    assert ("HybridLearnable learned a(L) (mean over each group's lengths, the range over 3 seeds; 1 - a weighs G): "
            "short 0.20 to 0.40, mid 0.20 to 0.40, long 0.20 to 0.40.") in text
    curve = np.linspace(0.3, 0.8, 50)  # HybridContinuous, lengths 1..50, the same in every seed
    assert (f"HybridContinuous learned a(L) (mean over each group's lengths, the range over 3 seeds; 1 - a weighs "
            f"G): short {curve[:10].mean():.2f}, mid {curve[10:30].mean():.2f}, long {curve[30:].mean():.2f}.") in text
    assert "a(L) is a mixing weight" in text and "HybridDiscrete learned" not in text
    folder = tmp_path / "runs"
    folder.mkdir()
    write_run(folder, "SASRec", 2020, _base_ranks(2020))
    write_run(folder, "HybridLearnable", 2020, _base_ranks(2020), alpha=[0.25] * 10 + [0.5] * 20 + [0.9] * 20,
              config={"alpha_short": 0.3, "alpha_mid": 0.5, "alpha_long": 0.7})
    runs = load_runs(folder, "ml-1m", "paper")
    assert ("HybridLearnable learned a(L) (mean over each group's lengths, one seed; 1 - a weighs G): short 0.25 "
            "(from 0.3), mid 0.50 (from 0.5), long 0.90 (from 0.7).") in findings(runs, analysis.tables(runs, n_boot=50))
    for path in folder.glob("HybridLearnable-*"):
        path.unlink()
    write_run(folder, "HybridFixed", 2020, _base_ranks(2020), alpha=[0.5] * 50)
    runs = load_runs(folder, "ml-1m", "paper")
    assert not any("learned a(L)" in s or "mixing weight" in s for s in findings(runs, analysis.tables(runs, n_boot=50)))


def test_the_analysis_modules_import_one_way():
    """runs <- tables <- ablation, plots <- report, and none of them back (function-level imports included)."""
    root = Path(analysis.__file__).parent
    layers = ["stats", "anchors", "runs", "tables", "ablation", "plots", "findings", "page", "summary", "report"]
    for i, name in enumerate(layers):
        imported = set()
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                imported.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        assert not imported & set(layers[i:]) - {name}, f"{name} imports {imported & set(layers[i:])}"


def test_a_label_without_a_shared_seed_is_named_not_compared(tmp_path):
    folder = write_grid(tmp_path / "runs")
    write_run(folder, "HybridFixed", 2030, _base_ranks(2030), config={"fixed_alpha": 0.5})
    runs = load_runs(folder, "ml-1m", "paper")
    tables = analysis.tables(runs, n_boot=200)
    assert "HybridFixed" not in set(tables["significance"]["model"])
    assert "HybridFixed has no seed in common with SASRec: it is not compared." in findings(runs, tables)
    for path in folder.glob("Hybrid*"):
        path.unlink()
    assert analysis.significance(load_runs(folder, "ml-1m", "paper")).empty


def test_sasrec_alone_gets_its_table_beside_the_anchors(tmp_path):
    """An anchor check (SASRec only, e.g. on SASRec's own file) is reported, with nothing compared."""
    folder = tmp_path / "runs"
    folder.mkdir()
    for seed in SEEDS[:2]:
        write_run(folder, "SASRec", seed, _base_ranks(seed))
    tables = analyze("ml-1m", "paper", runs_dir=folder, out_dir=tmp_path / "out", save=True, n_boot=200)
    assert tables["significance"].empty and list(tables["overall_comparison"]["model"]) == ["SASRec"] * 2
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "- Only SASRec's runs are among these records: nothing is compared with it here" in readme
    assert "No comparison: no label shares a seed with SASRec." in readme and "significance.csv" not in readme
    assert "| SASRec | seen_excluded (primary) | 2 |" in readme
    assert not (tmp_path / "out" / "significance.csv").exists()


def test_ablation_compares_two_runs_that_differ_only_in_the_named_keys(tmp_path):
    """A variant one rank better for long histories only, against a reference recorded before the key existed."""
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    base = _base_ranks(2020)
    better = np.where(_lengths() > 30, np.maximum(base - 1, 1), base)
    sequence = {"train_mode": "sequence"}
    a = tmp_path / "a" / (write_run(tmp_path / "a", "SASRec", 2020, better,
                                    config={**sequence, "sequence_loss_weight": "target"}) + ".json")
    b = tmp_path / "b" / (write_run(tmp_path / "b", "SASRec", 2020, base, config=sequence) + ".json")  # implied batch
    ablate(a, b, ["sequence_loss_weight"], tmp_path / "out", command=["recbole-hybrid experiments", "ablate"])
    result = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert result["keys"] == {"sequence_loss_weight": ["target", "batch"]}
    seen = next(t for t in result["tests"] if t["candidates"] == "seen_excluded")
    expected = per_user_metric(better, "ndcg@10") - per_user_metric(base, "ndcg@10")
    assert seen["n"] == len(base) and seen["mean_diff"] == pytest.approx(expected.mean()) and seen["t_p"] < 0.05
    groups = {g["group"]: g for g in result["groups"] if g["candidates"] == "seen_excluded"}
    assert groups["short"]["mean_diff"] == groups["mid"]["mean_diff"] == 0
    assert (groups["short"]["ci_low"], groups["short"]["ci_high"]) == (0, 0)
    assert groups["long"]["ci_low"] > 0 and groups["long"]["n_users"] == N_LONG
    readme = (tmp_path / "out" / "README.md").read_text()
    assert readme.startswith("# Ablation: `sequence_loss_weight`: 'target' (a) vs 'batch' (b)")
    assert f"| seen_excluded | {len(base)} | {expected.mean():+.4f} [" in readme

    c = tmp_path / "c" / (write_run(tmp_path / "c", "SASRec", 2020, base,
                                    config={**sequence, "learning_rate": 0.01}) + ".json")
    with pytest.raises(AnalysisError, match=r"differ outside --keys=sequence_loss_weight: learning_rate \(0.01 vs "
                                            r"0.001\)$"):
        ablate(c, a, ["sequence_loss_weight"], None, command=[])
    with pytest.raises(AnalysisError, match="do not differ in --keys=sequence_loss_weight"):
        ablate(b, b, ["sequence_loss_weight"], None, command=[])
    with pytest.raises(AnalysisError, match="nothing.json: no such run record"):
        ablate(tmp_path / "nothing.json", b, ["sequence_loss_weight"], None, command=[])


def test_a_dataset_without_short_histories_says_so():
    """SASRec's ML-1M file keeps users with at least 20 ratings: its short group is empty, not small."""
    from recbole_hybrid.analysis.findings import short_group_sentence

    groups = pd.DataFrame({"group": ["short", "mid", "long"], "length_range": ["L<=10", "10<L<=30", "L>30"],
                           "n_users": [0, 120, 5920]})
    assert short_group_sentence(groups) == ("The short group (L<=10) holds no test user of this dataset: nothing "
                                             "here measures short histories.")


def test_the_summary_block_of_a_readme_is_rewritten_and_the_rest_kept(tmp_path):
    folder = write_grid(tmp_path / "results" / "runs")
    begin, end = summary_markers("ml-1m", "paper")
    target = tmp_path / "README.md"
    target.write_text(f"# Project\n\nintro\n{begin}\nstale table\n{end}\n\n## Tuning\n")
    analyze("ml-1m", "paper", folder, tmp_path / "results", save=True, n_boot=200,
            command=["recbole-hybrid experiments analyze"], summary_into=target)
    text = target.read_text()
    assert text.startswith(f"# Project\n\nintro\n{begin}\n") and text.endswith(f"{end}\n\n## Tuning\n")
    assert "stale table" not in text
    block = text.split(begin)[1].split(end)[0]
    overall = analysis.tables(load_runs(folder, "ml-1m", "paper"), n_boot=200)["overall_comparison"]
    sasrec = overall[(overall["model"] == "SASRec") & (overall["candidates"] == "seen_excluded")].iloc[0]
    assert f"| SASRec | 3 | {sasrec['test_ndcg@10_mean']:.4f} ± {sasrec['test_ndcg@10_std']:.4f} |" in block
    assert block.count("| HybridDiscrete | 3 |") == 1 and "[results/README.md](results/README.md)" in block
    assert "| SASRec | 3 |" in block.split("| HybridDiscrete | 3 |")[0]  # SASRec first, with empty difference cells
    again = target.read_text()
    analyze("ml-1m", "paper", folder, tmp_path / "results", save=True, n_boot=200,
            command=["recbole-hybrid experiments analyze"], summary_into=target)
    assert target.read_text() == again  # idempotent: one block, regenerated in place


def test_a_summary_target_without_its_markers_is_refused_before_any_work(tmp_path):
    folder = write_grid(tmp_path / "runs")
    target = tmp_path / "README.md"
    target.write_text("# Project\n")
    with pytest.raises(AnalysisError, match=r"README.md needs the line '<!-- results ml-1m paper"):
        analyze("ml-1m", "paper", folder, tmp_path / "out", save=True, summary_into=target)
    assert target.read_text() == "# Project\n" and not (tmp_path / "out").exists()
    with pytest.raises(AnalysisError, match="no such file"):
        analyze("ml-1m", "paper", folder, tmp_path / "out", save=True, summary_into=tmp_path / "missing.md")
    with pytest.raises(AnalysisError, match="add --save_csv"):
        analyze("ml-1m", "paper", folder, tmp_path / "out", summary_into=target)


def test_the_summary_states_each_verdict_after_holm(grid, tmp_path):
    from recbole_hybrid.analysis.summary import summary

    folder, runs, tables = grid
    text = "\n".join(summary(runs, tables, tmp_path / "results", tmp_path, ["analyze"]))
    assert ("Holm-corrected at 0.05: **HybridDiscrete above SASRec**; **HybridLearnable above SASRec**; "
            "HybridContinuous no significant difference to SASRec; HybridDiscrete-nograph no significant difference "
            "to SASRec; **HybridDiscrete above HybridDiscrete-nograph**.") in text
    assert "± the std over seeds 2020, 2021, 2022" in text and "2026-12-01 to 2026-12-03" in text
    assert ("Published, on their own protocols and files (NDCG@10 / HR@10): SASRec+ (full CE) 0.1821 / 0.3152 "
            "(Klenitskiy & Vasilev)") in text
    assert "paired over the seeds it shares" not in text  # every label has every seed
    one_seed = [r for r in runs if r.seed == 2020]
    text = "\n".join(summary(one_seed, analysis.tables(one_seed, n_boot=100), tmp_path, tmp_path, ["analyze"]))
    assert "one seed (2020), so no spread" in text and "; 2026-12-01. Generated" in text
    # SASRec with two seeds, the hybrids with one: the differences are over seed 2020 alone, and the legend says so
    uneven = [r for r in runs if r.seed == 2020 or (r.seed == 2021 and r.label == "SASRec")]
    text = "\n".join(summary(uneven, analysis.tables(uneven, n_boot=100), tmp_path, tmp_path, ["analyze"]))
    assert ("± the std over seeds 2020, 2021 (each label's own seeds); a label's difference to SASRec is paired over "
            "the seeds it shares with SASRec, so with unequal seeds it is not the difference of the two means") in text


def test_a_run_with_a_paused_epoch_is_named_beside_its_training_time(tmp_path):
    folder = write_grid(tmp_path / "runs")
    runs = load_runs(folder, "ml-1m", "paper")
    tables = analysis.tables(runs, n_boot=100)
    assert not any(s.startswith("Training times:") for s in findings(runs, tables))
    path = folder / "HybridLearnable-ml-1m-paper-seed2021.json"
    record = json.loads(path.read_text())
    for epoch, seconds in zip(record["epochs"], (40.0, 2750.0, 45.0)):
        epoch["train_time_s"] = seconds
    path.write_text(json.dumps(record))
    runs = load_runs(folder, "ml-1m", "paper")
    assert ("Training times: HybridLearnable-ml-1m-paper-seed2021 (slowest epoch 2750 s, median 45 s). An epoch over "
            "5 times the run's median means the process was paused") in "\n".join(findings(runs, tables))


def test_a_run_resumed_on_another_machine_is_named_with_its_machines(tmp_path):
    folder = write_grid(tmp_path / "runs")
    path = folder / "HybridContinuous-ml-1m-paper-seed2020.json"
    record = json.loads(path.read_text())
    record["sessions"] = [{"first_epoch": 0, "device": "CPU x86_64 (2 cores)", "started": "2026-12-01T10:00:00"}]
    path.write_text(json.dumps(record))
    runs = load_runs(folder, "ml-1m", "paper")
    tables = analysis.tables(runs, n_boot=100)
    assert not any(s.startswith("Trained on more than one machine") for s in findings(runs, tables))
    record["sessions"].append({"first_epoch": 2, "device": "CPU AMD EPYC (2 cores)", "started": "2026-12-02T10:00:00"})
    path.write_text(json.dumps(record))
    runs = load_runs(folder, "ml-1m", "paper")
    assert ("Trained on more than one machine, resumed on another: HybridContinuous-ml-1m-paper-seed2020 (CPU x86_64 "
            "(2 cores) from epoch 0, CPU AMD EPYC (2 cores) from epoch 2). Their `train s` adds epochs timed on each "
            "machine.") in findings(runs, tables)


def _add_caps(folder: Path, rid: str, caps: dict[int, np.ndarray]) -> None:
    """Give a synthetic run capped tests: ``{k: visible-excluded ranks}`` (all items +2, whole history -1 floor 1)."""
    ranks = dict(np.load(folder / f"{rid}.ranks.npz"))
    for k, rank in caps.items():
        ranks.update({f"test_cap{k}_rank": rank + 2, f"test_cap{k}_rank_filter_seen": rank,
                      f"test_cap{k}_rank_filter_history": np.maximum(rank - 1, 1)})
    np.savez_compressed(folder / f"{rid}.ranks.npz", **ranks)
    record = json.loads((folder / f"{rid}.json").read_text())
    record["history_caps"] = {"caps": sorted(caps), "time_s": 1.5, "test": {}, "test_filter_seen": {},
                              "test_filter_history": {}}
    (folder / f"{rid}.json").write_text(json.dumps(record))


def test_history_caps_table_figure_and_findings(tmp_path):
    """HybridDiscrete far above SASRec with one visible item, level at k = 5: the per-cap table pairs per user,
    corrects over the caps, gives a(k), and the README says where the hybrid is above, with the figure."""
    n = N_SHORT + N_MID + N_LONG
    alpha = [0.3] * 10 + [0.5] * 20 + [0.7] * 20
    for seed in SEEDS[:2]:
        base = _base_ranks(seed)
        caps_sasrec = {1: np.full(n, 40), 5: base}
        caps_hybrid = {1: np.full(n, 1) + (np.arange(n) % 3), 5: base}
        _add_caps(tmp_path, write_run(tmp_path, "SASRec", seed, base), caps_sasrec)
        _add_caps(tmp_path, write_run(tmp_path, "HybridDiscrete", seed, base, alpha=alpha), caps_hybrid)
    runs = load_runs(tmp_path, "ml-1m", "paper")
    table = analysis.history_cap_table(runs)
    primary = table[table["candidates"] == "seen_excluded"].set_index(["model", "cap"])
    assert list(primary.loc["HybridDiscrete"].index) == [1, 5, "full"]
    at_1 = primary.loc[("HybridDiscrete", 1)]
    expected = per_user_metric(np.full(n, 1) + (np.arange(n) % 3), "ndcg@10") - per_user_metric(np.full(n, 40),
                                                                                                   "ndcg@10")
    assert at_1["diff_test_ndcg@10"] == pytest.approx(expected.mean())
    assert at_1["p_holm"] < 0.05 and at_1["alpha"] == pytest.approx(0.3) and at_1["n"] == n
    assert primary.loc[("HybridDiscrete", 5), "diff_test_ndcg@10"] == 0 and primary.loc[("HybridDiscrete", 5),
                                                                                        "p_holm"] == 1
    assert pd.isna(primary.loc[("HybridDiscrete", "full"), "p_holm"])  # the uncapped test is Holm'd elsewhere
    assert primary.loc[("SASRec", 1), "ci_low"] <= primary.loc[("SASRec", 1), "test_ndcg@10_mean"] \
        <= primary.loc[("SASRec", 1), "ci_high"]
    assert set(table["candidates"]) == {"all_items", "seen_excluded", "history_excluded"}
    text = " ".join(findings(runs, analysis.tables(runs, n_boot=200)))
    assert "HybridDiscrete is above SASRec at k = 1 (" in text and "a = 0.30" in text
    out = tmp_path / "out"
    analyze("ml-1m", "paper", runs_dir=tmp_path, out_dir=out, save=True, n_boot=200)
    readme = (out / "README.md").read_text()
    assert "## Every user cut to its last k items (history caps)" in readme
    assert "The 2 capped tests took 1.5-1.5 s per run" in readme
    assert (out / "history_caps.png").is_file() and (out / "history_caps.csv").is_file()


def test_runs_without_caps_have_no_cap_table_or_section(grid):
    _, runs, tables = grid
    assert tables["history_caps"].empty
    assert not any("History caps" in s for s in findings(runs, tables))


def test_records_with_and_without_history_caps_in_their_config_compare(tmp_path):
    write_run(tmp_path, "SASRec", 2020, _base_ranks(2020), config={"eval_history_caps": [1, 2]})
    write_run(tmp_path, "HybridDiscrete", 2020, _base_ranks(2020))
    assert len(load_runs(tmp_path, "ml-1m", "paper")) == 2


def test_the_summary_leaves_out_caps_that_no_label_can_be_compared_on(tmp_path):
    """A hybrid's capped record with no capped SASRec of its seed: the summary says nothing about caps."""
    n = N_SHORT + N_MID + N_LONG
    for seed in SEEDS[:2]:
        base = _base_ranks(seed)
        write_run(tmp_path, "SASRec", seed, base)
        _add_caps(tmp_path, write_run(tmp_path, "HybridDiscrete", seed, base), {1: np.full(n, 3), 5: base})
    readme = tmp_path / "README.md"
    readme.write_text("\n".join(summary_markers("ml-1m", "paper")) + "\n")
    analyze("ml-1m", "paper", runs_dir=tmp_path, out_dir=tmp_path / "out", save=True, n_boot=200,
            summary_into=readme)
    assert "History caps" not in readme.read_text() and "history cap" not in readme.read_text()


def test_tuned_runs_may_differ_in_the_searched_backbone_only(tmp_path):
    """Each model of a ``tuned`` preset trains its own tuned recipe: ``TUNED_KEYS`` may differ between models, any
    other recipe key is still refused; outside ``tuned`` the same records are refused."""
    folder = write_grid(tmp_path / "runs")
    for path in list(folder.iterdir()):
        target = path.with_name(path.name.replace("-paper-", "-tuned-"))
        if path.name.endswith(".json"):
            target.write_text(path.read_text().replace("-paper-", "-tuned-"))
            path.unlink()
        else:
            path.rename(target)
    for seed in SEEDS:
        path = folder / f"HybridDiscrete-ml-1m-tuned-seed{seed}.json"
        record = json.loads(path.read_text())
        record["config"].update(learning_rate=5e-4, hidden_size=128, MAX_ITEM_LIST_LENGTH=100, L_long=45)
        path.write_text(json.dumps(record))
    assert len(load_runs(folder, "ml-1m", "tuned")) == 15
    with pytest.raises(AnalysisError, match=r"learning_rate \(0.0005 vs 0.001\)"):
        check_one_protocol([load_run(p) for p in sorted(folder.glob("*-seed*.json"))
                            if not p.name.endswith(".alpha.json")])
    path = folder / "SASRec-ml-1m-tuned-seed2021.json"
    record = json.loads(path.read_text())
    record["config"]["stopping_step"] = 3
    path.write_text(json.dumps(record))
    with pytest.raises(AnalysisError, match=r"SASRec-ml-1m-tuned-seed2021 differs in stopping_step"):
        load_runs(folder, "ml-1m", "tuned")


def test_a_tuned_summary_carries_its_studys_figure_and_best_configurations(tmp_path):
    """``analyze --study``: the study's figure and best trials follow the summary; a study without its figure,
    or a study without a summary to go into, is refused before any work."""
    from recbole_hybrid.analysis.study import MARKERS, study_report

    folder = write_grid(tmp_path / "results" / "runs")
    study = tmp_path / "tune" / "2026-12-03"
    (study / "trials" / "SASRec").mkdir(parents=True)
    (study / "trials" / "SASRec" / "trials.csv").write_text(
        "trial_id,status,learning_rate,valid_ndcg@10,best_epoch,epochs,time_s,node_id,gpu_ids,ended\n"
        "t_00000,OK,0.001,0.15,40,60,3600,n1,,1\n")
    (study / "README.md").write_text(f"{MARKERS[0]}\n{MARKERS[1]}\n")
    begin, end = summary_markers("ml-1m", "paper")
    target = tmp_path / "README.md"
    target.write_text(f"{begin}\n{end}\n")
    with pytest.raises(AnalysisError, match=r"no study.png yet: run 'recbole-hybrid experiments study"):
        analyze("ml-1m", "paper", folder, tmp_path / "out", save=True, summary_into=target, study=study)
    assert not (tmp_path / "out").exists()
    with pytest.raises(AnalysisError, match="add --summary_into"):
        analyze("ml-1m", "paper", folder, tmp_path / "out", study=study)
    study_report(study)
    analyze("ml-1m", "paper", folder, tmp_path / "out", save=True, n_boot=200, summary_into=target, study=study)
    block = target.read_text().split(begin)[1].split(end)[0]
    assert "![best validation NDCG@10 so far per model](tune/2026-12-03/study.png)" in block
    assert "(tune/2026-12-03/README.md)" in block and "| `learning_rate` | 0.001 |" in block
