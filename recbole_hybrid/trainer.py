"""The train / validate / test loop of one run, on RecBole's Trainer steps and evaluator.

RecBole's ``Trainer.fit`` saves whole pickled configs and reloads them with ``torch.load`` (broken on torch >= 2.6)
and keeps no per-epoch history. Here RecBole still trains each epoch (``Trainer._train_epoch``) and computes every
metric (``Trainer.evaluate``, full ranking, its ``Collector`` and ``Evaluator``), so numbers stay comparable with
RecBole's; the loop around them does early stopping on validation NDCG@10, state-dict checkpoints and the record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from recbole.trainer import Trainer
from recbole.utils import early_stopping

from recbole_hybrid.fast_trainer import FastTrainer, resolve_trainer
from recbole_hybrid.records import load_checkpoint, plain, save_checkpoint

VALID_METRIC = "ndcg@10"


def fit_and_test(config, model, train_data, valid_data, test_data, checkpoint_path: str | Path,
                 log=print, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train with early stopping on validation NDCG@10, reload the best model, evaluate it once on test.

    ``on_epoch`` receives each epoch's entry (``epoch``, ``train_loss``, ``train_time_s`` and, when validated,
    ``valid``) right after it ends: Ray Tune reports from there.

    ``config["trainer"]`` picks who trains each epoch: RecBole's ``Trainer._train_epoch`` or ``FastTrainer``.

    Returns:
        ``{"trainer", "epochs": [per-epoch dicts], "best_epoch", "best_valid", "test", "train_time_s"}``.
    """
    trainer = Trainer(config, model)
    which = resolve_trainer(config)
    fast = FastTrainer(config, model, train_data) if which == "fast" else None
    epochs_log: list[dict[str, Any]] = []
    best_score, best_epoch, best_valid, stale = -np.inf, None, None, 0
    train_time = 0.0
    for epoch in range(config["epochs"]):
        start = time.perf_counter()
        if fast is not None:
            total = fast.train_epoch(epoch)
        else:
            total = trainer._train_epoch(train_data, epoch, show_progress=config["show_progress"])
        seconds = time.perf_counter() - start
        train_time += seconds
        loss = (sum(total) if isinstance(total, tuple) else total) / max(len(train_data), 1)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss} at epoch {epoch}")
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
                save_checkpoint(checkpoint_path, model, config, epoch=epoch, valid=valid)
            line += f"  valid {VALID_METRIC} {valid[VALID_METRIC]:.4f}" + ("  *" if improved else "")
        epochs_log.append(entry)
        log(line)
        if on_epoch is not None:
            on_epoch(entry)
        if stop:
            log(f"early stop: no better validation {VALID_METRIC} for {stale} evaluations")
            break
    if best_epoch is None:  # validation never improved on -inf (NaN metrics): keep the last model
        best_epoch = epochs_log[-1]["epoch"]
        save_checkpoint(checkpoint_path, model, config, epoch=best_epoch, valid=best_valid)
    model.load_state_dict(load_checkpoint(checkpoint_path, map_location=config["device"])["state_dict"])
    test = plain(dict(trainer.evaluate(test_data, load_best_model=False, show_progress=False)))
    return {"trainer": which, "epochs": epochs_log, "best_epoch": best_epoch, "best_valid": best_valid, "test": test,
            "train_time_s": train_time}
