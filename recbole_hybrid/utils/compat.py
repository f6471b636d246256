"""Fixes that let RecBole 1.2.1 run on today's numpy and inside other programs' processes.

RecBole 1.2.1 is unmaintained. ``Config.compatibility_settings`` reads ``np.float_``, ``np.complex_`` and
``np.unicode_``, which numpy 2 removed, so every ``Config(...)`` fails without the aliases below. They must be set
in every process (Ray workers included) before the first ``Config``: importing ``recbole_hybrid`` does it. This
module imports torch only where a function needs it, so the package face stays light.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import numpy as np


def patch_numpy() -> None:
    """Define the numpy 1 aliases that RecBole 1.2.1 reads (no-op on numpy 1)."""
    for old, new in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if old not in np.__dict__:
            setattr(np, old, new)


@contextlib.contextmanager
def bare_argv() -> Iterator[None]:
    """Hide ``sys.argv[1:]`` from RecBole's ``Config``, which parses and ``eval``s every ``--k=v`` it finds there.

    Under pytest, Ray or our own CLI the flags are not RecBole's; we pass settings through ``config_dict`` instead.
    """
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def init_seed(seed: int, reproducibility: bool) -> None:
    """RecBole's ``init_seed``, plus deterministic kernels when ``reproducibility`` is set.

    RecBole only makes cuDNN deterministic. On CPU the backward of a table lookup by advanced indexing
    (``table[item_seq]``, an ``index_put_`` with accumulation over repeated ids) sums in a thread-dependent order
    unless deterministic algorithms are on: two runs of one seed then drift apart in the last bits of their
    gradients, and a resumed run does not match an uninterrupted one.
    """
    import torch
    from recbole.utils import init_seed as recbole_init_seed  # here: importing RecBole needs patch_numpy first

    recbole_init_seed(seed, reproducibility)
    if reproducibility:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(bool(reproducibility), warn_only=True)
    # Deterministic mode also fills every new tensor from torch.empty with NaN, to expose reads of uninitialised
    # memory: no kernel here reads it, and the fills are a pass over memory after every such allocation.
    torch.utils.deterministic.fill_uninitialized_memory = False


@contextlib.contextmanager
def kept_cuda_visible_devices() -> Iterator[None]:
    """Undo what RecBole's ``Config`` does to ``CUDA_VISIBLE_DEVICES`` (it writes its ``gpu_id`` there, ``'0'`` by
    default) while a process only checks configurations.

    A Ray Tune driver builds configs to check a search space: without this, Ray started afterwards sees GPU 0 only.
    A run that trains keeps RecBole's behaviour (``gpu_id`` picks its GPU).
    """
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved
