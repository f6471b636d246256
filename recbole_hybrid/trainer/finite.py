"""The check that stops training on a NaN or infinite loss, shared by every training loop of the project."""

from __future__ import annotations

import torch

from recbole_hybrid.utils.errors import UsageError


class NonFiniteLossError(UsageError, FloatingPointError):
    """The training loss became NaN or infinite at ``epoch``, ``step`` (or steps ``step..last_step`` when a fast
    path checks a sum of several steps), all counted from 0. A ``UsageError``: settings that cannot train (a
    learning rate far too high, ...) are the user's to change."""

    def __init__(self, value: float, epoch: int, step: int, last_step: int | None = None) -> None:
        where = f"step {step}" if last_step is None or last_step == step else f"steps {step}..{last_step}"
        super().__init__(f"training loss is {value} at epoch {epoch}, {where}: training stopped; the checkpoints "
                         f"of the last finished epoch are kept")
        self.value, self.epoch, self.step, self.last_step = value, epoch, step, last_step


def check_finite(loss: torch.Tensor | float, epoch: int, step: int, last_step: int | None = None) -> None:
    """Raise ``NonFiniteLossError`` naming ``epoch`` and ``step`` unless ``loss`` (a scalar) is finite.

    Call it before ``backward()``, so that a bad loss never reaches the weights. A fast path that avoids a device
    sync per step calls it every N steps on the sum of steps ``step..last_step``, and the error names that range.
    """
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if value != value or value in (float("inf"), float("-inf")):
        raise NonFiniteLossError(value, epoch, step, last_step)
