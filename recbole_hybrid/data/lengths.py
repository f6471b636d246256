"""The one definition of the history-length groups: short ``L <= L_short``, mid ``L_short < L <= L_long``, long.

Used by the models' length bins (``alpha.length_bin``, on RecBole's capped ``item_length``), the dataset check
(``data.check_dataset``) and the analysis's length groups (on the true history length). The helpers work on
numpy arrays and torch tensors alike and import neither the models nor RecBole.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Group names in bin order: index 0, 1, 2 of ``bin_index``.
GROUPS = ("short", "mid", "long")


def bin_index(length: Any, L_short: int, L_long: int) -> Any:
    """0 for ``L <= L_short``, 1 for ``L_short < L <= L_long``, 2 for ``L > L_long``.

    Args:
        length: ``[N]`` integer lengths, a numpy array or a torch tensor.
    Returns:
        ``[N]`` integers in ``{0, 1, 2}`` of the same kind (int64 for both numpy and torch).
    """
    return (length > L_short) * 1 + (length > L_long) * 1


def group_names(length: np.ndarray, L_short: int, L_long: int) -> np.ndarray:
    """``[N]`` group names (``"short"``, ``"mid"``, ``"long"``) of ``length [N]``."""
    return np.asarray(GROUPS)[bin_index(np.asarray(length), L_short, L_long)]


def group_ranges(L_short: int, L_long: int) -> dict[str, str]:
    """Each group's range as text, e.g. ``{"short": "L<=10", "mid": "10<L<=30", "long": "L>30"}``."""
    return {"short": f"L<={L_short}", "mid": f"{L_short}<L<={L_long}", "long": f"L>{L_long}"}


def group_counts(length: np.ndarray, L_short: int, L_long: int) -> dict[str, int]:
    """How many of ``length [N]`` fall in each group, in ``GROUPS`` order."""
    counts = np.bincount(bin_index(np.asarray(length), L_short, L_long), minlength=len(GROUPS))
    return {group: int(n) for group, n in zip(GROUPS, counts)}
