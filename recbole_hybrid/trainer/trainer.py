"""The train / validate / test loop of one run.

RecBole's ``Trainer.fit`` saves whole pickled configs and reloads them with ``torch.load`` (broken on torch >= 2.6)
and keeps no per-epoch history. Here each epoch is trained by one ``EpochTrainer``: ``SequenceTrainer`` (``train_mode:
sequence``: user windows, a loss at every position), ``FastTrainer`` (RecBole's prefix rows and batches, on the
device) or RecBole's own ``Trainer._train_epoch`` (``trainer: recbole``); every metric comes from
``evaluation.evaluate`` (full ranking, equal to RecBole's evaluator without ties, plus per-user ranks and the
``filter_seen`` variant from the same scores); the loop around them does early stopping on validation NDCG@10,
state-dict checkpoints, resume and the record.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import early_stopping

from recbole_hybrid.evaluation import SeenItems, evaluate
from recbole_hybrid.trainer.fast import FastTrainer, resolve_trainer
from recbole_hybrid.trainer.finite import check_finite
from recbole_hybrid.model.graph import default_item_degrees
from recbole_hybrid.data.history_caps import cap_summary
from recbole_hybrid.model.fast_layers import fast_dropout_layers, fuse_layers
from recbole_hybrid.utils.records import device_name, load_checkpoint, plain, save_checkpoint
from recbole_hybrid.trainer.sequence import SequenceTrainer
from recbole_hybrid.utils.progress_display import (NOTICEABLE_S, Steps, display_mode, format_seconds, phase,
                                                   progress_enabled, say)

VALID_METRIC = "ndcg@10"


class EpochTrainer(Protocol):
    """What the loop needs from whoever trains an epoch: RecBole's trainer, ``FastTrainer`` or ``SequenceTrainer``."""

    optimizer: torch.optim.Optimizer

    def generators(self) -> dict[str, torch.Generator]:
        """The random streams it draws from besides the global ones, by name (saved in ``last.pth``)."""

    def train_epoch(self, epoch: int) -> float:
        """Train one epoch; return the mean step loss."""


def build_epoch_trainer(config, model, train_data) -> tuple[str, EpochTrainer]:
    """``(name, trainer)``: ``"sequence"`` for ``train_mode: sequence``, else ``"fast"`` or ``"recbole"``."""
    if config["train_mode"] == "sequence":
        return "sequence", SequenceTrainer(config, model, train_data)
    which = resolve_trainer(config)
    if which == "fast":
        return which, FastTrainer(config, model, train_data)
    return which, RecBoleEpochs(config, model, train_data)


@dataclass
class LoopState:
    """The training loop's progress after a finished epoch; saved in ``last.pth`` with the model and RNGs."""

    epoch: int = -1
    best_score: float = -np.inf
    best_epoch: int | None = None
    best_valid: dict[str, float] | None = None
    stale: int = 0  # validations since the last improvement
    stopped: bool = False  # early stopping ended the run: a resume trains no further
    epochs: list[dict[str, Any]] = field(default_factory=list)
    train_time_s: float = 0.0
    # one entry per start or resume: {"first_epoch", "device", "started"}; a run resumed on another machine has
    # epoch times (and a train_time_s) from both
    sessions: list[dict[str, Any]] = field(default_factory=list)


def fit_and_test(config, model, train_data, valid_data, test_data, run_dir: str | Path,
                 log=print, on_epoch: Callable[[dict[str, Any]], None] | None = None,
                 resume: bool = False) -> dict[str, Any]:
    """Train with early stopping on validation NDCG@10, reload the best model, evaluate it once on test.

    ``test_data=None`` skips the test (``"test": None``), as hyper-parameter search does.

    ``run_dir`` receives ``best.pth`` (the best model so far) and ``last.pth`` (the whole training state at the end
    of the last finished epoch: model, optimizer, ``LoopState`` and every RNG). With ``resume`` the loop restarts
    from ``last.pth``: a run killed mid-epoch repeats that epoch from the same state and ends with the same numbers
    as an uninterrupted one; a run that had stopped early trains no further.

    ``on_epoch`` receives each epoch's entry (``epoch``, ``train_loss``, ``train_time_s`` and, when validated,
    ``valid``, ``valid_filter_seen``) right after it ends: Ray Tune reports from there. Selection uses the
    validation NDCG@10 over all items, or without each user's seen items when ``config["filter_seen"]``.

    Who trains each epoch follows ``train_mode`` and ``trainer`` (``build_epoch_trainer``). With
    ``config["fused_layers"]`` the model's RecBole Transformer layers are swapped for their fused forms first
    (``fused_layers.fuse_layers``: the same function), and evaluation scores with them; with
    ``config["fast_dropout"]`` its ``nn.Dropout`` layers become ``FastDropout`` (other masks, ``fast_layers.py``).

    Returns:
        ``{"trainer", "epochs": [per-epoch dicts], "best_epoch", "best_valid", "best_valid_filter_seen", "test",
        "test_filter_seen", "selection", "train_time_s", "sessions", "evaluations"}``, and ``"history_caps"`` when
        ``config["eval_history_caps"]`` names caps (``test_history_caps``); ``sessions`` lists each start or resume
        that trained (first epoch, device, UTC start); ``evaluations`` holds the best model's validation and test
        ``Evaluation`` (per-user ranks) and the capped tests' (``test_caps``, None without caps), not JSON: the
        runner saves them apart.
    """
    run_dir = Path(run_dir)
    best_path, last_path = run_dir / "best.pth", run_dir / "last.pth"
    fused = config["fused_layers"]
    if fused:
        fuse_layers(model)
    if config["fast_dropout"]:
        fast_dropout_layers(model)
    which, trainer = build_epoch_trainer(config, model, train_data)
    seen_valid = SeenItems.from_datasets([train_data.dataset], valid_data._dataset)
    seen_test = None if test_data is None else SeenItems.from_datasets(
        [train_data.dataset, valid_data._dataset], test_data._dataset)
    selected = "metrics_filter_seen" if config["filter_seen"] else "metrics"
    state = LoopState()
    if resume:
        state = restore_training_state(last_path, model, trainer.optimizer, trainer.generators(), config["device"])
        log(f"resumed from {last_path} after epoch {state.epoch}" + (" (it had stopped early)" if state.stopped
                                                                      else ""))
    if not state.stopped and state.epoch + 1 < config["epochs"]:
        state.sessions.append({"first_epoch": state.epoch + 1, "device": device_name(config["device"]),
                               "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if progress_enabled(config):
            left = config["epochs"] - state.epoch - 1
            say(f"train: {len(trainer)} steps per epoch, up to {left} epoch{'s' * (left != 1)} from epoch "
                f"{state.epoch + 1} (validation every {config['eval_step']}; early stop after "
                f"{config['stopping_step']} validations without a better one)")
    last_valid_s = None  # the previous validation's seconds: plain progress lines announce a slow one
    for epoch in range(state.epoch + 1, config["epochs"]):
        if state.stopped:
            break
        start = time.perf_counter()
        loss = trainer.train_epoch(epoch)
        seconds = time.perf_counter() - start
        state.train_time_s += seconds
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "train_time_s": seconds}
        if which == "sequence":
            entry["passes"] = trainer.passes
        line = f"epoch {epoch:3d}  loss {loss:.4f}  {seconds:6.1f}s"
        if (epoch + 1) % config["eval_step"] == 0 or epoch + 1 == config["epochs"]:
            start = time.perf_counter()
            evaluation = validate_with_progress(model, valid_data, seen_valid, config, fused, epoch, last_valid_s)
            valid = getattr(evaluation, selected)
            last_valid_s = time.perf_counter() - start
            entry.update(valid=evaluation.metrics, valid_filter_seen=evaluation.metrics_filter_seen,
                         valid_time_s=last_valid_s)
            state.best_score, state.stale, state.stopped, improved = early_stopping(
                valid[VALID_METRIC], state.best_score, state.stale, max_step=config["stopping_step"], bigger=True)
            if improved:
                state.best_epoch, state.best_valid = epoch, valid
                save_checkpoint(best_path, model, config, epoch=epoch, valid=valid)
            line += (f"  valid {VALID_METRIC}{' (filter_seen)' if config['filter_seen'] else ''} "
                     f"{valid[VALID_METRIC]:.4f}" + ("  *" if improved else ""))
        state.epoch = epoch
        state.epochs.append(entry)
        save_training_state(last_path, model, trainer.optimizer, trainer.generators(), config, state)
        log(line)
        if on_epoch is not None:
            on_epoch(entry)
        if state.stopped:
            log(f"early stop: no better validation {VALID_METRIC} for {state.stale} evaluations")
    if state.best_epoch is None:  # validation never improved on -inf (NaN metrics): keep the last model
        state.best_epoch = state.epochs[-1]["epoch"]
        save_checkpoint(best_path, model, config, epoch=state.best_epoch, valid=state.best_valid)
    with phase(progress_enabled(config), "final", f"the best model (epoch {state.best_epoch}) on validation"
               + ("" if test_data is None else " and test")):
        model.load_state_dict(load_checkpoint(best_path, map_location=config["device"])["state_dict"])
        # the best epoch's validation again, for its per-user ranks (a resumed run holds only its metrics)
        counts = seen_valid.item_counts(valid_data._dataset.item_num)  # the training split's item popularity
        degrees = default_item_degrees(train_data.dataset, config["graph_cache_dir"])
        valid = evaluate(model, valid_data, seen_valid, config["device"], fused, item_counts=counts,
                         item_degrees=degrees)
        test = None if test_data is None else evaluate(model, test_data, seen_test, config["device"], fused,
                                                       item_counts=counts, item_degrees=degrees)
        caps = {} if test is None else test_history_caps(model, test_data, seen_test, config)
    extra = {"history_caps": caps["summary"]} if caps else {}
    return {"trainer": which, "epochs": state.epochs, "best_epoch": state.best_epoch,
            "best_valid": valid.metrics, "best_valid_filter_seen": valid.metrics_filter_seen,
            "test": test and test.metrics, "test_filter_seen": test and test.metrics_filter_seen,
            "selection": {"metric": f"valid {VALID_METRIC}", "filter_seen": bool(config["filter_seen"])},
            "train_time_s": state.train_time_s, "sessions": state.sessions, **extra,
            "evaluations": {"valid": valid, "test": test, "test_caps": caps.get("evaluations")}}


def validate_with_progress(model, valid_data, seen: SeenItems, config, fused: bool, epoch: int,
                           previous_s: float | None):
    """``evaluate`` of the validation split after ``epoch``, with its progress (``progress_display``): a bar in a
    terminal; in plain lines a start and an end line when it is the first validation or the previous one took
    ``NOTICEABLE_S`` (``previous_s``) or more, and an end line whenever this one did."""
    mode = display_mode(config)
    users = len(valid_data._dataset)  # one row per user (leave-one-out)
    loud = mode == "lines" and (previous_s is None or previous_s >= NOTICEABLE_S)
    if loud:
        say(f"valid epoch {epoch}: ranking all items for {users} users ...")
    start = time.perf_counter()
    with Steps(users, f"valid epoch {epoch}", mode, unit="user") as progress:
        evaluation = evaluate(model, valid_data, seen, config["device"], fused, progress=progress)
    seconds = time.perf_counter() - start
    if loud or (mode == "lines" and seconds >= NOTICEABLE_S):
        say(f"valid epoch {epoch}: done in {format_seconds(seconds)}")
    return evaluation


def test_history_caps(model, test_data, seen_test: SeenItems, config) -> dict[str, Any]:
    """The test once per cap of ``config["eval_history_caps"]`` (``history_caps``) on the loaded ``model``:
    ``{"summary": the record's history_caps entry, "evaluations": {k: Evaluation}}``, or ``{}`` without caps."""
    caps = config["eval_history_caps"] or []
    if not caps:
        return {}
    start = time.perf_counter()
    capped = {k: evaluate(model, test_data, seen_test, config["device"], config["fused_layers"], history_cap=k)
              for k in caps}
    return {"summary": cap_summary(capped, time.perf_counter() - start), "evaluations": capped}


class RecBoleEpochs:
    """RecBole's own ``Trainer._train_epoch`` (with ``CheckedTrainer``'s loss check) behind ``EpochTrainer``."""

    def __init__(self, config, model, train_data) -> None:
        self.trainer = CheckedTrainer(config, model)
        self.optimizer = self.trainer.optimizer
        self.train_data = train_data
        self.show_progress = config["show_progress"]

    def generators(self) -> dict[str, torch.Generator]:
        return {"loader": self.train_data.generator}

    def __len__(self) -> int:
        """Steps per epoch: RecBole's batches."""
        return len(self.train_data)

    def train_epoch(self, epoch: int) -> float:
        total = self.trainer._train_epoch(self.train_data, epoch, show_progress=self.show_progress)
        return (sum(total) if isinstance(total, tuple) else total) / max(len(self.train_data), 1)


class CheckedTrainer(Trainer):
    """RecBole's ``Trainer`` whose per-step loss check also refuses inf and names the epoch and step.

    ``show_progress`` shows the project's progress (``progress_display``: a bar in a terminal, plain lines
    elsewhere), counted in that per-step check, instead of RecBole's own bar.
    """

    _progress: Steps | None = None

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._epoch, self._step = epoch_idx, 0
        try:
            with Steps(len(train_data), f"train epoch {epoch_idx}", display_mode(bool(show_progress))) as progress:
                self._progress = progress
                return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=False)
        finally:
            self._progress = None

    def _check_nan(self, loss: torch.Tensor) -> None:  # called by _train_epoch once per step, before backward()
        check_finite(loss, self._epoch, self._step)
        self._step += 1
        if self._progress is not None:
            self._progress.update()


def _rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every random stream that training draws from, as tensors and plain data (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": plain(random.getstate()),  # tuples -> lists
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "generators": {name: g.get_state() for name, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    for name, g in generators.items():
        g.set_state(state["generators"][name].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_training_state(path: Path, model, optimizer, generators: dict[str, torch.Generator], config,
                        state: LoopState) -> None:
    """``last.pth``: model, optimizer, RNG states and the loop's progress after a finished epoch."""
    save_checkpoint(path, model, config, optimizer=optimizer.state_dict(), rng=_rng_state(generators),
                    **asdict(state))


def restore_training_state(path: Path, model, optimizer, generators: dict[str, torch.Generator],
                           device) -> LoopState:
    """Load ``last.pth`` into ``model``, ``optimizer`` and the RNGs; return the loop's progress."""
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist (no epoch of this run finished)")
    saved = load_checkpoint(path, map_location=device)
    model.load_state_dict(saved.pop("state_dict"))
    optimizer.load_state_dict(saved.pop("optimizer"))
    _set_rng_state(saved.pop("rng"), generators)
    state = LoopState(**{f.name: saved[f.name] for f in fields(LoopState) if f.name in saved})
    state.best_score = float(state.best_score)
    return state
