"""The train / validate / test loop of one run, on RecBole's Trainer steps and evaluator.

RecBole's ``Trainer.fit`` saves whole pickled configs and reloads them with ``torch.load`` (broken on torch >= 2.6)
and keeps no per-epoch history. Here RecBole still trains each epoch (``Trainer._train_epoch``) and computes every
metric (``Trainer.evaluate``, full ranking, its ``Collector`` and ``Evaluator``), so numbers stay comparable with
RecBole's; the loop around them does early stopping on validation NDCG@10, state-dict checkpoints and the record.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import early_stopping

from recbole_hybrid.finite import check_finite
from recbole_hybrid.records import load_checkpoint, plain, save_checkpoint

VALID_METRIC = "ndcg@10"


def fit_and_test(config, model, train_data, valid_data, test_data, run_dir: str | Path,
                 log=print, on_epoch: Callable[[dict[str, Any]], None] | None = None,
                 resume: bool = False) -> dict[str, Any]:
    """Train with early stopping on validation NDCG@10, reload the best model, evaluate it once on test.

    ``run_dir`` receives ``best.pth`` (the best model so far) and ``last.pth`` (the whole training state at the end
    of the last finished epoch: model, optimizer, early-stopping state, history and every RNG). With ``resume`` the
    loop restarts from ``last.pth``: a run killed mid-epoch repeats that epoch from the same state and ends with the
    same numbers as an uninterrupted one.

    ``on_epoch`` receives each epoch's entry (``epoch``, ``train_loss``, ``train_time_s`` and, when validated,
    ``valid``) right after it ends: Ray Tune reports from there.

    Returns:
        ``{"epochs": [per-epoch dicts], "best_epoch", "best_valid", "test", "train_time_s"}``.
    """
    run_dir = Path(run_dir)
    best_path, last_path = run_dir / "best.pth", run_dir / "last.pth"
    trainer = CheckedTrainer(config, model)
    state: dict[str, Any] = {"epoch": -1, "best_score": -np.inf, "best_epoch": None, "best_valid": None,
                             "stale": 0, "epochs": [], "train_time_s": 0.0}
    if resume:
        state = restore_training_state(last_path, model, trainer.optimizer, train_data, config["device"])
        log(f"resumed from {last_path} after epoch {state['epoch']}")
    epochs_log = state["epochs"]
    best_score, best_epoch, best_valid, stale = state["best_score"], state["best_epoch"], state["best_valid"], \
        state["stale"]
    train_time = state["train_time_s"]
    for epoch in range(state["epoch"] + 1, config["epochs"]):
        start = time.perf_counter()
        total = trainer._train_epoch(train_data, epoch, show_progress=config["show_progress"])
        seconds = time.perf_counter() - start
        train_time += seconds
        loss = (sum(total) if isinstance(total, tuple) else total) / max(len(train_data), 1)
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "train_time_s": seconds}
        line = f"epoch {epoch:3d}  loss {loss:.4f}  {seconds:6.1f}s"
        stop = False
        if (epoch + 1) % config["eval_step"] == 0 or epoch + 1 == config["epochs"]:
            start = time.perf_counter()
            valid = plain(dict(trainer.evaluate(valid_data, load_best_model=False, show_progress=False)))
            entry.update(valid=valid, valid_time_s=time.perf_counter() - start)
            best_score, stale, stop, improved = early_stopping(
                valid[VALID_METRIC], best_score, stale, max_step=config["stopping_step"], bigger=True)
            if improved:
                best_epoch, best_valid = epoch, valid
                save_checkpoint(best_path, model, config, epoch=epoch, valid=valid)
            line += f"  valid {VALID_METRIC} {valid[VALID_METRIC]:.4f}" + ("  *" if improved else "")
        epochs_log.append(entry)
        save_training_state(last_path, model, trainer.optimizer, train_data, config, epoch=epoch,
                            best_score=best_score, best_epoch=best_epoch, best_valid=best_valid, stale=stale,
                            epochs=epochs_log, train_time_s=train_time)
        log(line)
        if on_epoch is not None:
            on_epoch(entry)
        if stop:
            log(f"early stop: no better validation {VALID_METRIC} for {stale} evaluations")
            break
    if best_epoch is None:  # validation never improved on -inf (NaN metrics): keep the last model
        best_epoch = epochs_log[-1]["epoch"]
        save_checkpoint(best_path, model, config, epoch=best_epoch, valid=best_valid)
    model.load_state_dict(load_checkpoint(best_path, map_location=config["device"])["state_dict"])
    test = plain(dict(trainer.evaluate(test_data, load_best_model=False, show_progress=False)))
    return {"epochs": epochs_log, "best_epoch": best_epoch, "best_valid": best_valid, "test": test,
            "train_time_s": train_time}


class CheckedTrainer(Trainer):
    """RecBole's ``Trainer`` whose per-step loss check also refuses inf and names the epoch and step."""

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._epoch, self._step = epoch_idx, 0
        return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

    def _check_nan(self, loss: torch.Tensor) -> None:  # called by _train_epoch once per step, before backward()
        check_finite(loss, self._epoch, self._step)
        self._step += 1


def _rng_state(train_data) -> dict[str, Any]:
    """Every random stream that training draws from, as tensors and plain data (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": plain(random.getstate()),  # tuples -> lists
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "loader": train_data.generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], train_data) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    train_data.generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: Path, model, optimizer, train_data, config, **progress: Any) -> None:
    """``last.pth``: model, optimizer, RNG states and the loop's progress after a finished epoch."""
    save_checkpoint(path, model, config, optimizer=optimizer.state_dict(), rng=_rng_state(train_data), **progress)


def restore_training_state(path: Path, model, optimizer, train_data, device) -> dict[str, Any]:
    """Load ``last.pth`` into ``model``, ``optimizer`` and the RNGs; return the loop's progress."""
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist (no epoch of this run finished)")
    state = load_checkpoint(path, map_location=device)
    model.load_state_dict(state.pop("state_dict"))
    optimizer.load_state_dict(state.pop("optimizer"))
    rng = state.pop("rng")
    rng["torch"], rng["loader"] = rng["torch"].cpu(), rng["loader"].cpu()
    _set_rng_state(rng, train_data)
    state["best_score"] = float(state["best_score"])
    return state
