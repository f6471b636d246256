"""The train / validate / test loop of one run, on RecBole's Trainer steps and evaluator.

RecBole's ``Trainer.fit`` saves whole pickled configs and reloads them with ``torch.load`` (broken on torch >= 2.6)
and keeps no per-epoch history. Here RecBole still trains each epoch (``Trainer._train_epoch``); every metric comes
from ``evaluation.evaluate`` (full ranking, equal to RecBole's evaluator, plus per-user ranks and the ``filter_seen``
variant from the same scores); the loop around them does early stopping on validation NDCG@10, state-dict
checkpoints and the record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from recbole.trainer import Trainer
from recbole.utils import early_stopping

from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.records import load_checkpoint, save_checkpoint

VALID_METRIC = "ndcg@10"


def fit_and_test(config, model, train_data, valid_data, test_data, checkpoint_path: str | Path,
                 log=print, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train with early stopping on validation NDCG@10, reload the best model, evaluate it once on test.

    ``on_epoch`` receives each epoch's entry (``epoch``, ``train_loss``, ``train_time_s`` and, when validated,
    ``valid``, ``valid_filter_seen``) right after it ends: Ray Tune reports from there. Selection uses the
    validation NDCG@10 over all items, or without each user's seen items when ``config["filter_seen"]``.

    Returns:
        ``{"epochs": [per-epoch dicts], "best_epoch", "best_valid", "best_valid_filter_seen", "test",
        "test_filter_seen", "selection", "train_time_s", "evaluations"}``; ``evaluations`` holds the best
        epoch's validation and the test ``Evaluation`` (per-user ranks), not JSON: the runner saves them apart.
    """
    trainer = Trainer(config, model)
    seen_valid = SeenItems.from_datasets([train_data.dataset], valid_data._dataset)
    seen_test = SeenItems.from_datasets([train_data.dataset, valid_data._dataset], test_data._dataset)
    selected = "metrics_filter_seen" if config["filter_seen"] else "metrics"
    epochs_log: list[dict[str, Any]] = []
    best_score, best_epoch, best_valid, best_eval, stale = -np.inf, None, None, None, 0
    train_time = 0.0
    for epoch in range(config["epochs"]):
        start = time.perf_counter()
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
            evaluation = evaluate(model, valid_data, seen_valid, config["device"])
            valid = getattr(evaluation, selected)
            entry.update(valid=evaluation.metrics, valid_filter_seen=evaluation.metrics_filter_seen,
                         valid_time_s=time.perf_counter() - start)
            best_score, stale, stop, improved = early_stopping(
                valid[VALID_METRIC], best_score, stale, max_step=config["stopping_step"], bigger=True)
            if improved:
                best_epoch, best_valid, best_eval = epoch, valid, evaluation
                save_checkpoint(checkpoint_path, model, config, epoch=epoch, valid=valid)
            line += (f"  valid {VALID_METRIC}{' (filter_seen)' if config['filter_seen'] else ''} "
                     f"{valid[VALID_METRIC]:.4f}" + ("  *" if improved else ""))
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
    test = evaluate(model, test_data, seen_test, config["device"])
    return {"epochs": epochs_log, "best_epoch": best_epoch,
            "best_valid": best_eval and best_eval.metrics,
            "best_valid_filter_seen": best_eval and best_eval.metrics_filter_seen,
            "test": test.metrics, "test_filter_seen": test.metrics_filter_seen,
            "selection": {"metric": f"valid {VALID_METRIC}", "filter_seen": bool(config["filter_seen"])},
            "train_time_s": train_time, "evaluations": {"valid": best_eval, "test": test}}
