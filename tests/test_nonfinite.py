"""A NaN or infinite loss stops training with an error naming epoch and step; the last good checkpoints stay."""

from __future__ import annotations

import pytest
import torch

from recbole_hybrid import HybridDiscrete
from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.trainer.finite import NonFiniteLossError, check_finite
from recbole_hybrid.trainer.trainer import fit_and_test


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_check_finite_names_epoch_and_step(value):
    with pytest.raises(NonFiniteLossError, match=r"at epoch 4, step 17\b") as info:
        check_finite(torch.tensor(value), epoch=4, step=17)
    assert (info.value.epoch, info.value.step) == (4, 17)
    check_finite(torch.tensor(3.5), epoch=0, step=0)  # finite: no error
    check_finite(1e30, epoch=0, step=0)


@pytest.mark.parametrize("trainer, message", [
    ("recbole", r"training loss is nan at epoch 1, step 2\b"),  # checked at every step, before its update
    ("fast", r"training loss is nan at epoch 1, steps 0\.\.\d+"),  # checked every fast_check_every steps
])
def test_nan_mid_training_stops_there_and_keeps_the_last_good_checkpoints(ml100k_data, tmp_path, trainer, message):
    config, _, train, valid, test = ml100k_data
    saved = config["epochs"], config["trainer"]
    config["epochs"], config["trainer"] = 3, trainer
    try:
        init_seed(config["seed"], config["reproducibility"])
        model = HybridDiscrete(config, train.dataset)
        real_loss, calls = model.calculate_loss, []
        bad_call = len(train) + 2  # epoch 1, step 2 (both counted from 0)

        def loss_turning_nan(interaction):
            calls.append(1)
            loss = real_loss(interaction)
            return loss * float("nan") if len(calls) == bad_call + 1 else loss

        model.calculate_loss = loss_turning_nan
        snapshot = {}

        def keep_bytes(entry):
            snapshot.update({name: (tmp_path / name).read_bytes() for name in ("best.pth", "last.pth")})

        with pytest.raises(NonFiniteLossError, match=message):
            fit_and_test(config, model, train, valid, test, tmp_path, log=lambda *_: None, on_epoch=keep_bytes)
    finally:
        config["epochs"], config["trainer"] = saved
    if trainer == "recbole":
        assert len(calls) == bad_call + 1  # stopped at the first bad step
    assert set(snapshot) == {"best.pth", "last.pth"}
    for name, data in snapshot.items():
        assert (tmp_path / name).read_bytes() == data, f"{name} changed after the last finished epoch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pth", "last.pth"]  # no half-written file
