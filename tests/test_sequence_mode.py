"""Sequence-level training: the windows hold RecBole's training targets, and every variant is exact.

Exactness: in eval mode, the scores of every target from the sequence scheme equal those of the prefix row built from
the same window (the window's first ``t + 1`` items, ``a`` from the target's true capped history length), and one
training step's gradients agree the same way (dropout 0).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from recbole.data.interaction import Interaction
from recbole.model.sequential_recommender import SASRec

from recbole_hybrid import HybridContinuous, HybridDiscrete, HybridFixed, HybridLearnable, HybridResidual
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import ConfigError, build_config
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.utils.fingerprint import differences, run_settings
from recbole_hybrid.data.windows import build_windows
from recbole_hybrid.trainer.positions import SequencePositions, alpha_groups
from recbole_hybrid.trainer.sequence import SequenceTrainer
from tests.conftest import TINY

MODELS = (SASRec, HybridFixed, HybridDiscrete, HybridLearnable, HybridContinuous, HybridResidual)


def prefix_triples(dataset, max_len: int) -> Counter:
    """``(user, target, capped history length)`` of every RecBole training row."""
    f = dataset.inter_feat
    return Counter(zip(f[dataset.uid_field].tolist(), f[dataset.iid_field].tolist(),
                       f["item_length"].clamp(max=max_len).tolist()))


def window_triples(w) -> Counter:
    real = w.targets > 0
    users = w.user.unsqueeze(1).expand_as(w.targets)
    return Counter(zip(users[real].tolist(), w.targets[real].tolist(), w.lengths[real].tolist()))


def test_all_windows_hold_every_training_target_once(ml100k_data):
    config, _, train, _, _ = ml100k_data
    T = config["MAX_ITEM_LIST_LENGTH"]
    w = build_windows(train.dataset, "all")
    assert window_triples(w) == prefix_triples(train.dataset, T)
    assert w.items.shape == w.targets.shape == (len(w), T)
    later = w.lengths[:, 0] > 1  # windows that start after a user's first item exist with T = 20
    assert later.any()
    # inside a window, each input is the previous position's target
    real = w.targets[:, 1:] > 0  # position t + 1 is real: its input is the target of t
    assert torch.equal(w.items[:, 1:][real], w.targets[:, :-1][real])


def test_last_window_is_each_users_last_targets(ml100k_data):
    config, _, train, _, _ = ml100k_data
    T = config["MAX_ITEM_LIST_LENGTH"]
    last = build_windows(train.dataset, "last")
    assert len(last) == len(torch.unique(last.user)) == len(torch.unique(train.dataset.inter_feat["user_id"]))
    f = train.dataset.inter_feat
    per_user = {}
    for u, i in zip(f["user_id"].tolist(), f["item_id"].tolist()):
        per_user.setdefault(u, []).append(i)
    for row in range(0, len(last), 97):
        u = int(last.user[row])
        got = last.targets[row][last.targets[row] > 0].tolist()
        assert got == per_user[u][-T:]


def test_rows_out_of_time_order_are_refused(ml100k_data):
    _, _, train, _, _ = ml100k_data
    shuffled = train.dataset.copy(train.dataset.inter_feat[torch.randperm(len(train.dataset),
                                                                          generator=torch.Generator().manual_seed(0))])
    with pytest.raises(ConfigError, match="train_mode=sequence needs RecBole's leave-one-out prefix rows"):
        build_windows(shuffled, "all")


def model_for(cls, dataset, tmp_path, **overrides):
    with bare_argv():
        cfg = build_config(cls.__name__ if cls is not SASRec else "SASRec", "ml-100k", [],
                           {**TINY, "graph_cache_dir": str(tmp_path / "graph"), "sequence_alpha_tolerance": 0.0,
                            **overrides})  # exact a(L) for every variant (HybridContinuous's default is 0.02)
    torch.manual_seed(0)
    model = cls(cfg, dataset)
    if isinstance(model, (HybridLearnable, HybridResidual)):  # distinct learned weights, not the starting values
        with torch.no_grad():
            model.fusion.alpha_policy.logits.copy_(torch.tensor([-1.0, 0.2, 1.3]))
    if isinstance(model, HybridContinuous):  # a(L) differs at every length
        with torch.no_grad():
            model.fusion.alpha_policy.mlp[2].weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(1))
    return cfg, model


def prefix_scores(model, windows, rows, out_index) -> torch.Tensor:
    """``[N, n_items]`` scores of the prefix rows of the outputs ``out_index`` (flat ``b * T + t`` in ``rows``)."""
    T = windows.items.size(1)
    b, t = out_index // T, out_index % T
    items = windows.items[rows][b]  # [N, T]
    keep = torch.arange(T).unsqueeze(0) <= t.unsqueeze(1)
    seq = torch.where(keep, items, 0)
    seq_len = t + 1
    alpha_length = windows.lengths[rows][b, t]
    if isinstance(model, SASRec):
        return model.full_sort_predict(Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: seq_len}))
    output, alpha, graph = model.encode(seq, seq_len, alpha_length=alpha_length)
    return model._scores(output, alpha, graph)


#: Every model, and every hybrid again with ``graph_table: shared`` (G propagated from E itself).
MODEL_CASES = [(cls, {}) for cls in MODELS] + [(cls, {"graph_table": "shared"}) for cls in MODELS[1:]]


def _case_id(case) -> str:
    cls, overrides = case
    return cls.__name__ + "".join(f"-{value}" for value in overrides.values())


@pytest.mark.parametrize("case", MODEL_CASES, ids=_case_id)
def test_sequence_scores_equal_prefix_rows(ml100k_data, tmp_path, case):
    model_cls, overrides = case
    _, _, train, _, _ = ml100k_data
    _, model = model_for(model_cls, train.dataset, tmp_path, **overrides)
    model.eval()
    w = build_windows(train.dataset, "all")
    later = (w.lengths[:, 0] > 1).nonzero().squeeze(1)[:6]
    rows = torch.cat([torch.arange(6), later])  # first windows and later windows of long histories
    trainer = SequenceTrainer.__new__(SequenceTrainer)
    trainer.model = model
    positions = SequencePositions(model, tolerance=0.0)
    with torch.no_grad():
        out = positions(w.items[rows], w.lengths[rows])
        trainer_scores = SequenceTrainer.all_scores(trainer, out)
        expected = prefix_scores(model, w, rows, out.index)
    assert out.index.numel() == int((w.targets[rows] > 0).sum())
    assert torch.allclose(trainer_scores, expected, atol=1e-5, rtol=0)
    if model_cls in (HybridDiscrete, HybridLearnable, HybridResidual):
        assert out.passes == 3  # one per length bin
    if model_cls is HybridContinuous:
        assert out.passes > 3


@pytest.mark.parametrize("case", MODEL_CASES, ids=_case_id)
def test_training_step_gradients_equal_prefix_rows(ml100k_data, tmp_path, case):
    model_cls, overrides = case
    check_gradients_equal_prefix_rows(ml100k_data, tmp_path, model_cls, **overrides)


@pytest.mark.parametrize("model_cls", (HybridLearnable, HybridResidual), ids=lambda c: c.__name__)
def test_fused_table_gradients_equal_prefix_rows(ml100k_data, tmp_path, model_cls):
    """``score_table: fused`` in both fusion forms: the sequence loss scores against the same per-target table."""
    check_gradients_equal_prefix_rows(ml100k_data, tmp_path, model_cls, score_table="fused")


def test_item_gated_fused_table_gradients_equal_prefix_rows(ml100k_data, tmp_path):
    """``item_gate: learned``: the chunked CE's ``[E, G]`` product carries the gated ``G``; the gates' gradients
    agree with the prefix rows' too."""
    check_gradients_equal_prefix_rows(ml100k_data, tmp_path, HybridResidual, score_table="fused",
                                      item_gate="learned")


@pytest.mark.parametrize("model_cls, overrides", [(SASRec, {}), (HybridDiscrete, {}),
                                                   (HybridResidual, {"score_table": "fused"})],
                         ids=["SASRec", "HybridDiscrete", "HybridResidual-fused"])
def test_bf16_ce_step_agrees_with_float32_prefix_rows(ml100k_data, tmp_path, model_cls, overrides):
    """``ce_bf16: True``: a step's loss and every gradient agree with the float32 prefix rows to bf16 rounding
    (the ID table's product and the fused ``[E, G]`` one alike)."""
    check_gradients_equal_prefix_rows(ml100k_data, tmp_path, model_cls, ce_bf16=True, **overrides)


@pytest.mark.parametrize("native", (True, False))
def test_bf16_ce_on_a_cpu_that_emulates_bf16_says_to_switch_it_off(ml100k_data, tmp_path, monkeypatch, caplog,
                                                                   native):
    """On a CPU without AMX or AVX512-BF16 the bf16 products are emulated: a ``ce_bf16`` trainer warns and names
    the switch; on one with them it says nothing."""
    _, _, train, _, _ = ml100k_data
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    cfg, model = model_for(SASRec, train.dataset, tmp_path, train_mode="sequence", ce_bf16=True)
    with caplog.at_level("WARNING", logger="recbole_hybrid.trainer.sequence"):
        SequenceTrainer(cfg, model, train)
    warned = [r.getMessage() for r in caplog.records if "ce_bf16" in r.getMessage()]
    assert warned == ([] if native else [
        "ce_bf16=True on a CPU without AMX or AVX512-BF16: its bf16 products are emulated, several times slower "
        "than float32; add --ce_bf16=False on this machine"])


def check_gradients_equal_prefix_rows(ml100k_data, tmp_path, model_cls, **overrides) -> None:
    """One training step's loss and gradients, sequence scheme against the prefix rows of the same windows (to
    float32 rounding; to bf16 rounding with ``ce_bf16``)."""
    _, _, train, _, _ = ml100k_data
    cfg, model = model_for(model_cls, train.dataset, tmp_path, hidden_dropout_prob=0.0,
                           attn_dropout_prob=0.0, train_mode="sequence", train_batch_size=8, **overrides)
    model.train()
    trainer = SequenceTrainer(cfg, model, train)
    w = trainer.windows
    rows = torch.cat([torch.arange(4), (w.lengths[:, 0] > 1).nonzero().squeeze(1)[:4]])
    loss = trainer.batch_loss(rows)
    loss.backward()
    sequence_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    out_index = (w.targets[rows] > 0).reshape(-1).nonzero().squeeze(1)
    scores = prefix_scores(model, w, rows, out_index)
    # sequence_loss_weight: target (the default): each target weighs 1 / (the epoch's mean positions per step)
    prefix_loss = F.cross_entropy(scores, w.targets[rows].reshape(-1)[out_index], reduction="sum") \
        / trainer.positions_per_step
    prefix_loss.backward()
    bf16 = overrides.get("ce_bf16", False)
    assert math.isclose(loss.item(), prefix_loss.item(), rel_tol=1e-2 if bf16 else 1e-5)
    prefix_grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert sequence_grads.keys() == prefix_grads.keys()
    if model_cls in (HybridLearnable, HybridContinuous, HybridResidual):
        assert any(n.startswith("fusion.alpha_policy") for n in sequence_grads)
    if overrides.get("graph_table") == "shared":
        assert not any(n.startswith("fusion.graph_embedding") for n in sequence_grads)
    assert ("fusion.item_gate" in sequence_grads) == (overrides.get("item_gate") == "learned")
    for name, grad in sequence_grads.items():
        if bf16:
            assert float((grad - prefix_grads[name]).norm()) <= 2e-2 * float(prefix_grads[name].norm()) + 1e-6, name
        else:
            assert torch.allclose(grad, prefix_grads[name], atol=1e-5, rtol=1e-4), name


@pytest.mark.parametrize("model_cls, overrides", [
    (HybridDiscrete, {}), (HybridResidual, {"score_table": "fused"}),
    (HybridContinuous, {"sequence_alpha_tolerance": 0.0005}), (HybridDiscrete, {"graph_table": "shared"}),
], ids=["HybridDiscrete", "HybridResidual-fused", "HybridContinuous-tol0.0005", "HybridDiscrete-shared"])
def test_backward_by_group_is_the_one_graph_step(ml100k_data, tmp_path, model_cls, overrides):
    """``sequence_group_backward``: each a-group's pass backpropagated alone gives the one-graph step's loss and
    gradients, with dropout on (the same masks, drawn in the same order) and the random streams left where the
    one-graph step leaves them."""
    _, _, train, _, _ = ml100k_data
    steps = {}
    for grouped in (False, True):
        cfg, model = model_for(model_cls, train.dataset, tmp_path, hidden_dropout_prob=0.3, attn_dropout_prob=0.3,
                               train_mode="sequence", train_batch_size=8, sequence_group_backward=grouped,
                               **overrides)
        model.train()
        trainer = SequenceTrainer(cfg, model, train)
        w = trainer.windows
        starts = w.lengths[:, 0]  # windows from a history's start (L = 1, 2, ...) and windows further on
        rows = torch.cat([(starts == 1).nonzero().squeeze(1)[:4], (starts > 1).nonzero().squeeze(1)[:4]])
        torch.manual_seed(7)
        trainer.passes = 0
        loss = trainer.batch_loss(rows)
        loss.backward()
        steps[grouped] = (loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
                          trainer.passes, torch.rand(3))
    (joint_loss, joint, joint_passes, joint_next), (loss, grads, passes, after) = steps[False], steps[True]
    assert passes == joint_passes > 1
    assert math.isclose(loss, joint_loss, rel_tol=1e-6)
    assert grads.keys() == joint.keys()
    assert any(n.startswith("fusion.alpha_policy") for n in grads) == (model_cls is not HybridDiscrete)
    for name, grad in grads.items():
        assert torch.allclose(grad, joint[name], atol=1e-6, rtol=1e-5), name
    assert torch.equal(after, joint_next)


def test_backward_by_group_is_skipped_without_gradients(ml100k_data, tmp_path):
    """Under ``torch.no_grad`` (a loss only read) the step is the one-graph one and backpropagates nothing."""
    _, _, train, _, _ = ml100k_data
    cfg, model = model_for(HybridDiscrete, train.dataset, tmp_path, train_mode="sequence", train_batch_size=8)
    model.train()
    trainer = SequenceTrainer(cfg, model, train)
    with torch.no_grad():
        loss = trainer.batch_loss(torch.arange(8))
    assert torch.isfinite(loss) and all(p.grad is None for p in model.parameters())


def test_continuous_groups_stay_within_tolerance():
    alpha = torch.sigmoid(torch.linspace(-2, 2, 200) ** 3)
    for tolerance in (0.0, 0.01, 0.05):
        group, representative = alpha_groups(alpha, tolerance)
        assert group[0] == -1 and (group[1:].diff() >= 0).all()  # contiguous runs of lengths
        used = alpha[representative[group[1:]] - 1]
        assert (used - alpha).abs().max() <= tolerance + 1e-12
    assert len(alpha_groups(alpha, 0.0)[1]) == len(torch.unique(alpha))
    assert len(alpha_groups(alpha, 0.05)[1]) < len(alpha_groups(alpha, 0.01)[1])


@pytest.mark.parametrize("key, value, message", [
    ("train_mode", "windows", "train_mode='windows' must be one of auto, prefix, sequence"),
    ("sequence_windows", "first", "sequence_windows='first' must be one of all, last"),
    ("sequence_alpha_tolerance", -0.1, "sequence_alpha_tolerance=-0.1 must be a number in [0, 1]"),
    ("sequence_batching", "sorted", "sequence_batching='sorted' must be one of length, random"),
    ("sequence_loss_weight", "step", "sequence_loss_weight='step' must be one of target, batch"),
    ("ce_bf16", "yes", "ce_bf16='yes' must be True or False"),
    ("sequence_group_backward", 1, "sequence_group_backward=1 must be True or False"),
])
def test_unknown_sequence_settings_are_refused(key, value, message):
    with bare_argv(), pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_config("HybridDiscrete", "ml-100k", [], {**TINY, key: value})


def test_sequence_mode_refuses_what_it_cannot_honour():
    base = {**TINY, "train_mode": "sequence"}
    with bare_argv():
        with pytest.raises(ConfigError, match="train_mode=sequence: GRU4Rec has no sequence mode"):
            build_config("GRU4Rec", "ml-100k", [], base)
        with pytest.raises(ConfigError, match="train_mode=sequence: transform='mask_itemseq'"):
            build_config("SASRec", "ml-100k", [], {**base, "transform": "mask_itemseq"})
        with pytest.raises(ConfigError, match="train_mode=sequence: trainer=recbole trains prefix rows only"):
            build_config("HybridFixed", "ml-100k", [], {**base, "trainer": "recbole"})
        with pytest.raises(ConfigError, match="train_mode=sequence: learner='sgd' must be one of adam, adamw"):
            build_config("SASRec", "ml-100k", [], {**base, "learner": "sgd"})
        with pytest.raises(ConfigError, match="ce_bf16=True is the chunked CE of train_mode sequence, loss_type CE; "
                                              "this run has train_mode prefix, loss_type CE"):
            build_config("SASRec", "ml-100k", [], {**base, "train_mode": "prefix", "ce_bf16": True})
        with pytest.raises(ConfigError, match="this run has train_mode sequence, loss_type BPR"):
            build_config("SASRec", "ml-100k", [], {**base, "loss_type": "BPR", "ce_bf16": True})


def epoch_step_losses(trainer: SequenceTrainer) -> tuple[list[float], list[int]]:
    """Each step's loss over one epoch's batches, with the model fixed (eval mode, no update), and its positions."""
    losses, positions = [], []
    with torch.no_grad():
        for rows in trainer.epoch_batches():
            losses.append(trainer.batch_loss(rows).item())
            positions.append(int((trainer.windows.targets[rows] > 0).sum()))
    return losses, positions


@pytest.mark.parametrize("batching", ("length", "random"))
def test_target_weighting_gives_every_target_of_an_epoch_the_same_weight(ml100k_data, tmp_path, batching):
    """Summed over an epoch's steps, the loss is the epoch's per-target CE over the mean positions per step: what prefix
    rows optimise. Averaging each step instead (``batch``) weighs a target by 1 / its step's positions, which length
    batching makes unequal."""
    _, _, train, _, _ = ml100k_data
    cfg, model = model_for(HybridDiscrete, train.dataset, tmp_path, train_mode="sequence", train_batch_size=16,
                           sequence_batching=batching, sequence_loss_weight="target")
    model.eval()
    trainer = SequenceTrainer(cfg, model, train)
    assert trainer.positions_per_step == pytest.approx(sum(trainer.window_length.tolist()) / len(trainer))
    losses, positions = epoch_step_losses(trainer)
    per_step_mean = [loss * trainer.positions_per_step / n for loss, n in zip(losses, positions)]
    per_target = sum(m * n for m, n in zip(per_step_mean, positions)) / sum(positions)  # the epoch's mean CE
    assert sum(losses) == pytest.approx(per_target * len(losses), rel=1e-5)

    cfg.final_config_dict["sequence_loss_weight"] = "batch"
    trainer = SequenceTrainer(cfg, model, train)
    batch_losses, batch_positions = epoch_step_losses(trainer)
    assert sorted(batch_positions) == sorted(positions)
    assert sorted(batch_losses) == pytest.approx(sorted(per_step_mean), rel=1e-5)  # each step: its own mean
    if batching == "length":  # under batch, a target weighs 1 / its step's positions: far from uniform here
        assert max(positions) > 4 * min(positions)


def test_bpr_sequence_epoch_trains(ml100k_data, tmp_path):
    _, _, train, _, _ = ml100k_data
    cfg, model = model_for(HybridDiscrete, train.dataset, tmp_path, train_mode="sequence",
                           loss_type="BPR", train_batch_size=256)
    trainer = SequenceTrainer(cfg, model, train)
    first = trainer.train_epoch(0)
    second = trainer.train_epoch(1)
    assert 0 < second < first < 1.0  # BPR starts near log 2 and falls
    assert len(trainer) < trainer.passes <= 3 * len(trainer)  # a batch of later windows may reach one bin


def test_sequence_run_end_to_end(tiny):
    from recbole_hybrid.quick_start.runner import run_experiment

    record = run_experiment("HybridLearnable", "ml-100k", overrides={
        **tiny, "train_mode": "sequence", "epochs": 2, "train_batch_size": 128}, log=lambda *_: None)
    assert record["trainer"] == "sequence"
    assert record["epochs"][1]["train_loss"] < record["epochs"][0]["train_loss"]
    assert record["epochs"][0]["passes"] >= len(record["epochs"])
    assert record["test_filter_seen"]["ndcg@10"] > 0
    assert record["config"]["train_mode"] == "sequence"


#: TINY without its batch size: ``train_batch_size`` stays on its default, ``auto``.
DEFAULTS = {key: value for key, value in TINY.items() if key != "train_batch_size"}


def mode_and_batch(model: str, overrides: dict, dataset: str = "ml-100k", files: list[str] | None = None) -> tuple:
    with bare_argv():
        config = build_config(model, dataset, files or [], overrides)
    return config["train_mode"], config["train_batch_size"]


@pytest.mark.parametrize("model_cls", MODELS, ids=lambda cls: cls.__name__)
def test_sasrec_and_the_hybrids_default_to_windows_of_128(model_cls):
    assert mode_and_batch(model_cls.__name__, DEFAULTS) == ("sequence", 128)


def test_a_model_without_sequence_mode_defaults_to_prefix_rows_of_2048():
    assert mode_and_batch("GRU4Rec", DEFAULTS) == ("prefix", 2048)


@pytest.mark.parametrize("model, setting, refusal", [
    ("SASRec", {"learner": "sgd"}, "learner='sgd' must be one of adam, adamw"),
    ("HybridFixed", {"trainer": "recbole"}, "trainer=recbole trains prefix rows only"),
    ("HybridDiscrete", {"transform": "mask_itemseq"}, "transform='mask_itemseq' applies to prefix rows"),
    ("SASRec", {"eval_args": {"split": {"LS": "valid_and_test"}, "order": "RO", "group_by": "user", "mode": "full"}},
     r"eval_args order='RO', split=\{'LS': 'valid_and_test'\}: windows are cut from leave-one-out rows in time"),
    ("SASRec", {"eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "group_by": "user", "mode": "full"}},
     r"eval_args order='TO', split=\{'RS': \[0.8, 0.1, 0.1\]\}: windows are cut"),
])
def test_auto_trains_prefix_rows_where_sequence_mode_cannot(model, setting, refusal):
    assert mode_and_batch(model, {**DEFAULTS, **setting}) == ("prefix", 2048)
    with pytest.raises(ConfigError, match=f"train_mode=sequence: {refusal}"):
        mode_and_batch(model, {**DEFAULTS, **setting, "train_mode": "sequence"})


@pytest.mark.parametrize("model, setting, mode", [
    ("SASRec", {}, "sequence"), ("HybridContinuous", {"train_mode": "sequence"}, "sequence"),
    ("HybridDiscrete", {"train_mode": "prefix"}, "prefix"), ("GRU4Rec", {}, "prefix"),
])
def test_an_explicit_batch_size_is_kept_in_both_modes(model, setting, mode):
    assert mode_and_batch(model, {**DEFAULTS, **setting, "train_batch_size": 300}) == (mode, 300)


def test_an_explicit_prefix_mode_takes_the_prefix_batch():
    assert mode_and_batch("SASRec", {**DEFAULTS, "train_mode": "prefix"}) == ("prefix", 2048)
    assert mode_and_batch("SASRec", {**DEFAULTS, "sequence_batch_default": 64}) == ("sequence", 64)


@pytest.mark.parametrize("setting, message", [
    ({"train_mode": "bogus"}, "train_mode='bogus' must be one of auto, prefix, sequence"),
    ({"train_batch_size": "big"}, "train_batch_size='big' must be an integer >= 1 or auto"),
    ({"train_batch_size": 0}, "train_batch_size=0 must be an integer >= 1 or auto"),
    ({"sequence_batch_default": 0}, "sequence_batch_default=0 must be an integer >= 1"),
    ({"train_mode": "prefix", "prefix_batch_default": 2.5}, "prefix_batch_default=2.5 must be an integer >= 1"),
])
def test_bad_mode_or_batch_is_refused_naming_the_key(setting, message):
    with pytest.raises(ConfigError, match=message):
        mode_and_batch("SASRec", {**DEFAULTS, **setting})


DEMO_RECORDS = sorted((PROJECT_ROOT / "results" / "ml-100k-demo" / "runs").glob("*-ml-100k-pipeline-seed2020.json"))


@pytest.mark.parametrize("record", DEMO_RECORDS, ids=lambda path: path.name.split("-")[0])
def test_the_frozen_demo_config_still_builds_its_published_runs(record):
    """``configs/ml-100k/2026-11-27-demo.yaml`` pins prefix rows: the settings of its committed records, unchanged."""
    published = json.loads(record.read_text())
    demo = str(PROJECT_ROOT / "configs" / "ml-100k" / "2026-11-27-demo.yaml")
    with bare_argv():
        config = build_config(published["model"], "ml-100k", [demo], {"use_gpu": False})
    assert (config["train_mode"], config["train_batch_size"]) == ("prefix", 2048)
    assert differences(run_settings(published["config"]), run_settings(config)) == {}


def test_every_published_demo_record_is_checked():
    assert len(DEMO_RECORDS) == 5


def test_the_ml1m_recipes_keep_their_modes():
    configs = PROJECT_ROOT / "configs" / "ml-1m"
    assert mode_and_batch("HybridDiscrete", {"use_gpu": False}, "ml-1m", [str(configs / "2026-11-27.yaml")]) == \
        ("prefix", 256)
    assert mode_and_batch("HybridDiscrete", {"use_gpu": False}, "ml-1m",
                          [str(configs / "2026-11-27-literature.yaml")]) == ("sequence", 128)


def test_the_target_weighted_recipe_differs_from_the_literature_recipe_in_its_weighting_only():
    configs = PROJECT_ROOT / "configs" / "ml-1m"
    with bare_argv():
        first, target = (run_settings(build_config("HybridDiscrete", "ml-1m", [str(configs / name)],
                                                   {"use_gpu": False}))
                         for name in ("2026-11-27-literature.yaml", "2026-11-27-literature-target.yaml"))
    assert differences(first, target) == {"sequence_loss_weight": ("batch", "target")}
    assert first.keys() == target.keys()


def test_the_workflow_bpr_recipe_is_the_literature_target_recipe_in_the_workflows_regime():
    """``2026-12-03-workflow-bpr.yaml``: BPR with one uniform negative, length 50, up to 50 epochs, patience 10, the
    history caps on; everything else (protocol, architecture, windows per step) as the literature-target recipe."""
    configs = PROJECT_ROOT / "configs" / "ml-1m"
    with bare_argv():
        target, bpr = (build_config(model, "ml-1m", [str(configs / name)], {"use_gpu": False})
                       for model, name in (("SASRec", "2026-11-27-literature-target.yaml"),
                                           ("SASRec", "2026-12-03-workflow-bpr.yaml")))
    diff = differences(run_settings(target), run_settings(bpr))
    # MODEL_INPUT_TYPE: RecBole's own consequence of BPR (pairwise input); epochs is the budget, not a defining key
    assert set(diff) == {"loss_type", "train_neg_sample_args", "MODEL_INPUT_TYPE", "MAX_ITEM_LIST_LENGTH",
                         "stopping_step"}
    assert (bpr["loss_type"], bpr["train_neg_sample_args"]["sample_num"], bpr["MAX_ITEM_LIST_LENGTH"],
            bpr["epochs"], bpr["stopping_step"]) == ("BPR", 1, 50, 50, 10)
    assert bpr["eval_history_caps"] == [1, 2, 3, 5, 10, 20, 50] and bpr["train_mode"] == "sequence"


def test_fast_compile_compiles_the_encoder_in_place(ml100k_data, tmp_path):
    """``fast_compile`` in sequence mode: the Transformer encoder is compiled in place, so the state dict (and thus
    every checkpoint) keeps its keys."""
    _, _, train, _, _ = ml100k_data
    cfg, model = model_for(HybridDiscrete, train.dataset, tmp_path, train_mode="sequence", fast_compile=True)
    keys = list(model.state_dict())
    SequenceTrainer(cfg, model, train)
    assert model.trm_encoder._compiled_call_impl is not None
    assert list(model.state_dict()) == keys


def test_backward_by_group_is_not_part_of_a_runs_identity():
    """A run with the key on and one with it off (or recorded before it existed) are the same run: it changes
    memory, not numbers."""
    from recbole_hybrid.utils.fingerprint import run_settings, settings_hash

    with bare_argv():
        on, off = (build_config("HybridDiscrete", "ml-100k", [], {**TINY, "train_mode": "sequence",
                                                                  "sequence_group_backward": value})
                   for value in (True, False))
    assert settings_hash(run_settings(on)) == settings_hash(run_settings(off))
    assert "sequence_group_backward" not in run_settings(on)
