"""Checkpoints hold tensors and plain data only; one with code in its pickle is refused without running it."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from recbole_hybrid.utils.records import CheckpointError, load_checkpoint


class Payload:
    """Unpickling this calls ``os.system``: it creates ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_payload_really_runs_code_when_unpickled_unsafely(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))  # the attack works on plain pickle: the test below means something
    assert marker.exists()


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_with_code_is_refused_and_code_never_runs(tmp_path, writer):
    marker, path = tmp_path / "ran", tmp_path / "evil.pth"
    bundle = {"state_dict": {"w": torch.zeros(2)}, "config": {"model": "HybridDiscrete"}, "x": Payload(marker)}
    if writer == "torch.save":
        torch.save(bundle, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(bundle, f)
    with pytest.raises(CheckpointError, match=rf"{path}: refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_checkpoint_round_trips(tmp_path):
    path = tmp_path / "ok.pth"
    data = {"state_dict": {"w": torch.arange(3.0)}, "config": {"topk": [5, 10], "lr": 1e-3}, "epoch": 2}
    torch.save(data, path)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], data["state_dict"]["w"])
    assert loaded["config"] == data["config"] and loaded["epoch"] == 2
