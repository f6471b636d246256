"""A training epoch without RecBole's per-batch data pipeline, for every sequential model of RecBole and the plugin.

RecBole's ``Trainer._train_epoch`` builds each batch on the host (``Dataset.__getitem__``, ``Interaction``, a copy to
the device), reads ``loss.item()`` after every step (a host synchronisation) and runs under autograd anomaly
detection: importing ``recbole.model.sequential_recommender`` imports ``sine.py``, which calls
``torch.autograd.set_detect_anomaly(True)`` for the whole process, so every backward node checks its gradients for
NaN (one more synchronisation per node on CUDA, and a stack trace stored per forward op).

``FastTrainer`` keeps what decides the numbers and drops the rest:

- the same training rows (``train_data.dataset.inter_feat``, RecBole's split), copied to the device once;
- the same batch order: each epoch's permutation is drawn exactly as RecBole's ``DataLoader`` draws it, from a
  generator seeded with ``config["seed"]``, then copied to the device once per epoch; the batches are gathered there;
- the model's own ``calculate_loss(Interaction)``, optimiser, learning rate, weight decay and ``clip_grad_norm``.

On CPU it therefore reproduces RecBole's losses and metrics (same batches, same dropout draws from the global RNG).
It differs in what does not change them: anomaly detection is off inside its epochs, the loss is summed on the device
and checked for NaN/inf every ``fast_check_every`` steps and at epoch end, Adam is ``fused`` on CUDA, and optional
``fast_bf16`` (autocast, CUDA only) and ``fast_compile`` (``torch.compile`` of ``calculate_loss``) switches.
Negative sampling (``loss_type: BPR``) draws on the device what RecBole's ``SeqSampler`` draws on the host: one item
uniform over ``1 .. n_items - 1`` other than the positive (other random numbers, so not the same negatives).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

import torch
from recbole.data.interaction import Interaction
from torch.nn.utils import clip_grad_norm_

from recbole_hybrid.utils.errors import ConfigError
from recbole_hybrid.trainer.finite import check_finite
from recbole_hybrid.utils.progress_display import Steps, display_mode, progress_enabled

TRAINERS = ("auto", "fast", "recbole")
FAST_LEARNERS = ("adam", "adamw")


def fast_trainer_problem(config) -> str | None:
    """Why ``FastTrainer`` cannot train this config (a sentence naming the key), or None when it can."""
    if config["learner"].lower() not in FAST_LEARNERS:
        return f"learner={config['learner']!r}: the fast trainer supports {', '.join(FAST_LEARNERS)}"
    if config["transform"] is not None:
        return f"transform={config['transform']!r}: the fast trainer applies no batch transform"
    neg = config["train_neg_sample_args"]
    if neg["distribution"] != "none" and (
        neg["distribution"] != "uniform" or neg["sample_num"] != 1 or neg.get("dynamic", False)
    ):
        return (f"train_neg_sample_args={dict(neg)}: the fast trainer samples one uniform negative per row "
                f"(distribution 'uniform', sample_num 1, dynamic False)")
    if config["fast_bf16"] and config["enable_amp"]:
        return "fast_bf16 and enable_amp are both set: choose one autocast"
    return None


def check_trainer_config(config) -> None:
    """Refuse an unknown ``trainer``, bad fast-trainer keys, or ``trainer=fast`` with what it cannot train."""
    if config["trainer"] not in TRAINERS:
        raise ConfigError(f"trainer={config['trainer']!r} must be one of {', '.join(TRAINERS)}")
    every = config["fast_check_every"]
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(f"fast_check_every={every!r} must be an integer >= 1")
    for key in ("fast_bf16", "fast_compile"):
        if not isinstance(config[key], bool):
            raise ConfigError(f"{key}={config[key]!r} must be True or False")
    if config["trainer"] == "fast":
        problem = fast_trainer_problem(config)
        if problem:
            raise ConfigError(f"trainer=fast cannot train this config: {problem}; use --trainer=recbole")


def resolve_trainer(config) -> str:
    """``"fast"`` or ``"recbole"``: ``auto`` (or no key) is fast wherever the fast trainer supports the config."""
    if config["trainer"] in ("fast", "recbole"):
        return config["trainer"]
    return "recbole" if fast_trainer_problem(config) else "fast"


def recbole_epoch_order(generator: torch.Generator, n: int) -> torch.Tensor:
    """The row order of one epoch of RecBole's shuffled training ``DataLoader`` (``[n]`` int64, on the CPU).

    ``DataLoader.__iter__`` first draws its workers' base seed from the loader's generator; ``RandomSampler`` then
    draws ``randperm(n)`` and, when the epoch's iterator is exhausted, one more (empty-sliced) ``randperm(n)``.
    Drawing the same numbers from a generator in the same state gives the same batches.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n, generator=generator)
    torch.randperm(n, generator=generator)
    return order


def build_optimizer(config, model: torch.nn.Module) -> torch.optim.Optimizer:
    """RecBole's Adam / AdamW (same learning rate and weight decay), fused on CUDA."""
    device = torch.device(config["device"])
    kwargs: dict[str, Any] = {"lr": config["learning_rate"], "weight_decay": config["weight_decay"] or 0.0}
    if device.type == "cuda":
        kwargs["fused"] = True
    optim_cls = torch.optim.AdamW if config["learner"].lower() == "adamw" else torch.optim.Adam
    return optim_cls(model.parameters(), **kwargs)


class DeviceTrainer:
    """The training loop shared by the device-side trainers: optimiser, autocast, clipping, loss checks.

    A subclass says what a step's batch is (``steps``) and how many there are (``__len__``). ``train_epoch`` runs
    them with anomaly detection off, sums the loss on the device and checks it for NaN/inf every
    ``fast_check_every`` steps and at the end; it returns the mean step loss (one host synchronisation per check).

    Args:
        config: RecBole ``Config``; reads ``seed``, ``device``, ``learner``, ``learning_rate``, ``weight_decay``,
            ``clip_grad_norm``, ``fast_check_every``, ``fast_bf16``.
        model: the model, already on ``config["device"]``.
    """

    def __init__(self, config, model: torch.nn.Module) -> None:
        self.model = model
        self.device = torch.device(config["device"])
        self.check_every = config["fast_check_every"] or 50
        self.show_progress = progress_enabled(config)  # each epoch: a bar, plain lines or nothing (display_mode)
        self.clip_grad_norm = config["clip_grad_norm"]
        self.bf16 = bool(config["fast_bf16"]) and self.device.type == "cuda"
        self.optimizer = build_optimizer(config, model)
        # RecBole's DataLoader seeds its own generator with config["seed"] when it is built.
        self.order_generator = torch.Generator().manual_seed(config["seed"])
        self.sample_generator = torch.Generator(device=self.device).manual_seed(config["seed"])

    def generators(self) -> dict[str, torch.Generator]:
        """The random streams of training (batch order, negatives), by name: resume saves and restores them."""
        return {"order": self.order_generator, "negatives": self.sample_generator}

    def __len__(self) -> int:
        raise NotImplementedError

    def steps(self, epoch: int) -> Iterator[Callable[[], torch.Tensor]]:
        """One callable per step of ``epoch``, in order; each returns that batch's loss (a scalar tensor)."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training data; returns the mean of the batch losses (a float).

        Raises:
            NonFiniteLossError: the loss became NaN or inf (checked every ``fast_check_every`` steps and at the end).
        """
        self.model.train()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        checked_to, n_steps = 0, 0
        with torch.autograd.set_detect_anomaly(False), Steps(len(self), f"train epoch {epoch}",
                                                             display_mode(self.show_progress)) as progress:
            for step, batch_loss in enumerate(self.steps(epoch)):
                self.optimizer.zero_grad(set_to_none=True)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    losses = batch_loss()
                loss = sum(losses) if isinstance(losses, tuple) else losses
                loss.backward()
                if self.clip_grad_norm:
                    clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
                self.optimizer.step()
                total += loss.detach()
                n_steps = step + 1
                progress.update()
                if n_steps % self.check_every == 0:
                    self._check(total, epoch, checked_to, step)
                    checked_to = n_steps
        return self._check(total, epoch, checked_to, n_steps - 1) / max(n_steps, 1)

    @staticmethod
    def _check(total: torch.Tensor, epoch: int, first: int, last: int) -> float:
        """The loss sum as a float (one host synchronisation); raise if it is NaN or inf."""
        value = total.item()
        check_finite(value, epoch, first, last)
        return value


class FastTrainer(DeviceTrainer):
    """Train a RecBole sequential model epoch by epoch on device-resident prefix rows (RecBole's training rows).

    Args:
        config: RecBole ``Config``; reads what ``DeviceTrainer`` reads, ``train_batch_size``,
            ``train_neg_sample_args`` and ``fast_compile``.
        model: a ``SequentialRecommender`` already on ``config["device"]``.
        train_data: RecBole's training ``DataLoader``; only its dataset (the rows) is used.
    """

    def __init__(self, config, model: torch.nn.Module, train_data) -> None:
        problem = fast_trainer_problem(config)
        if problem:
            raise ConfigError(f"trainer=fast cannot train this config: {problem}; use --trainer=recbole")
        super().__init__(config, model)
        self.batch_size = config["train_batch_size"]
        self.loss_fn = torch.compile(model.calculate_loss) if config["fast_compile"] else model.calculate_loss

        inter = train_data.dataset.inter_feat
        self.fields = [model.USER_ID, model.ITEM_ID, model.ITEM_SEQ, model.ITEM_SEQ_LEN]
        missing = [f for f in self.fields if f not in inter.interaction]
        if missing:
            raise ConfigError(f"trainer=fast needs the training fields {missing}, which the dataset does not have")
        self.columns = {f: inter[f].to(self.device) for f in self.fields}  # [N] or [N, max_len]
        self.n_rows = len(inter)
        self.negatives = config["train_neg_sample_args"]["distribution"] != "none"
        self.n_items = model.n_items

    def __len__(self) -> int:
        """Steps per epoch: ``ceil(rows / batch)``, as RecBole's ``len(train_data)``."""
        return -(-self.n_rows // self.batch_size)

    def batch(self, rows: torch.Tensor) -> Interaction:
        """The ``Interaction`` of training rows ``rows [B]`` (device indices), with negatives when sampling."""
        batch = Interaction({f: col[rows] for f, col in self.columns.items()})
        if self.negatives:
            pos = batch[self.model.POS_ITEM_ID]
            draw = torch.randint(1, self.n_items - 1, pos.shape, device=self.device, generator=self.sample_generator)
            batch.interaction[self.model.NEG_ITEM_ID] = draw + (draw >= pos)  # uniform over 1..n_items-1 minus pos
        return batch

    def steps(self, epoch: int) -> Iterator[Callable[[], torch.Tensor]]:
        """The batches of RecBole's order for ``epoch``; each step calls the model's own ``calculate_loss``."""
        order = recbole_epoch_order(self.order_generator, self.n_rows).to(self.device, non_blocking=True)
        for start in range(0, self.n_rows, self.batch_size):
            yield partial(self._loss, order[start:start + self.batch_size])

    def _loss(self, rows: torch.Tensor) -> torch.Tensor:
        try:
            return self.loss_fn(self.batch(rows))
        except KeyError as err:
            raise ConfigError(
                f"{type(self.model).__name__} reads training field {err}, which the fast trainer does "
                f"not carry (it carries {self.fields}): use --trainer=recbole") from None
