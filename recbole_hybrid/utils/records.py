"""Run records and checkpoints: plain data only, so that nothing pickled ever has to be trusted.

torch is imported by the functions that need it: analysis reads records and ranks through this module without it.
"""

from __future__ import annotations

import enum
import json
import os
import pickle
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.utils.resources import source_root


def plain(value: Any) -> Any:
    """A JSON-able copy of a config value (enums and devices as their names, unknown objects as ``repr``)."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass that pickles as numpy
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    torch = sys.modules.get("torch")  # a device can only exist where torch is loaded
    if torch is not None and isinstance(value, torch.device):
        return str(value)
    return repr(value)


def plain_config(config) -> dict[str, Any]:
    """The final RecBole config as a plain dict."""
    return plain(dict(config.final_config_dict))


def cpu_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (``"AMD EPYC"``, ``"Intel(R) Xeon(R) ..."``) from ``cpuinfo``; where that file has none
    (not Linux), the platform's processor or machine name (``"x86_64"``)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device | str) -> str:
    """``"NVIDIA H200"`` on CUDA, else the CPU's model name and core count: CPU timings differ between machines of
    one name (``x86_64``), so a record names the model."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {cpu_name()} ({os.cpu_count()} cores)"


#: The checkout's paths whose uncommitted changes can change a number (``versions()["git_dirty"]``); trial rows and
#: results written beside a running job are not among them.
CODE_PATHS = ("recbole_hybrid", "properties", "benchmarks", "run.py", "tune/search.py", "tune/throughput.py")


def versions() -> dict[str, str | bool | None]:
    """Versions of everything that can change a number, the project's git commit, and whether the code differed
    from it (``git_dirty``: uncommitted changes to ``CODE_PATHS``; None outside a checkout)."""
    import numpy
    import pandas
    import recbole
    import scipy
    import torch

    from recbole_hybrid.version import __version__

    root = source_root()  # an installed copy has no commit of its own: its version says what it is
    commit, dirty = None, None
    if root is not None:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                    timeout=5).stdout.strip() or None
            if commit is not None:
                changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                                         cwd=root, capture_output=True, text=True, timeout=5)
                dirty = bool(changed.stdout.strip()) if changed.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            pass
    return {"python": platform.python_version(), "torch": torch.__version__, "recbole": recbole.__version__,
            "numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__,
            "recbole_hybrid": __version__, "git_commit": commit, "git_dirty": dirty}


def selected_valid(record: dict[str, Any]) -> dict[str, float]:
    """The best validation metrics a run record was selected on: ``best_valid_filter_seen`` where its ``selection``
    excluded seen items, else ``best_valid`` (empty where the record has neither)."""
    filter_seen = (record.get("selection") or {}).get("filter_seen")
    return record.get("best_valid_filter_seen" if filter_seen else "best_valid") or {}


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON through a temporary file, so a reader never sees half a record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False))
    os.replace(tmp, path)
    return path


def save_checkpoint(path: str | Path, model: torch.nn.Module, config, **extra: Any) -> Path:
    """Save a state dict, the plain config and ``extra`` (tensors and plain data only), atomically."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": model.state_dict(), "config": plain_config(config), **extra}, tmp)
    os.replace(tmp, path)
    return path


class CheckpointError(UsageError):
    """A checkpoint that is not tensors and plain data (or not a checkpoint at all); nothing in it was run."""


def load_checkpoint(path: str | Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``: tensors and plain data only, never code.

    Raises ``CheckpointError`` naming the file when it holds anything else (a pickled object or function).
    """
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: refused, it holds more than tensors and plain data ({first})") from None


def save_ranks(path: str | Path, valid, test, test_caps: dict | None = None) -> Path:
    """Save the per-user ranks behind a record's metrics as compressed arrays (atomically).

    ``valid`` and ``test`` are ``evaluation.Evaluation``s (``test`` is None in a search trial, which never tests).
    Keys: ``<split>_user_id``, ``<split>_history_length`` (true number of items before the target),
    ``<split>_rank`` and ``<split>_rank_filter_seen`` (1-based), and,
    when the evaluation has them, ``<split>_target_count`` (the training-split count of the user's target item) and
    ``<split>_target_degree`` (its number of edges in the default item graph). ``test_caps`` (``{k: Evaluation}``
    of the capped tests, ``history_caps``) adds ``test_cap<k>_rank``, ``_rank_filter_seen`` (visible items
    excluded) and ``_rank_filter_history`` (the whole history excluded), in the test's user order.
    """
    keys = ("user_id", "history_length", "rank", "rank_filter_seen", "target_count", "target_degree")
    arrays = {f"{split}_{key}": getattr(ev, key) for split, ev in (("valid", valid), ("test", test))
              if ev is not None for key in keys if getattr(ev, key) is not None}
    if test_caps:
        arrays.update(cap_rank_arrays(test_caps, test.user_id))
    return write_ranks(path, arrays)


def write_ranks(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``save_ranks``' file from its arrays (int64, compressed), atomically: a reader sees the old file or
    the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v, dtype=np.int64) for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def load_ranks(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays written by ``save_ranks`` (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


#: Candidate sets of a capped test (``eval_history_caps``): the ranks-file arrays ``test_cap<k>_<key>``.
CAP_RANK_KEYS = ("rank", "rank_filter_seen", "rank_filter_history")


def cap_rank_arrays(capped: dict[int, Any], test_users: np.ndarray) -> dict[str, np.ndarray]:
    """The ranks-file arrays ``test_cap<k>_<rank key>`` of the capped tests, in the order of ``test_users``
    (the uncapped test's users: the same loader, so the same order; checked)."""
    arrays = {}
    for k, ev in sorted(capped.items()):
        if not np.array_equal(ev.user_id, test_users):
            raise ValueError(f"the test capped at {k} saw other users than the uncapped test")
        for key in CAP_RANK_KEYS:
            arrays[f"test_cap{k}_{key}"] = getattr(ev, key)
    return arrays


def caps_in_ranks(ranks: dict[str, np.ndarray]) -> list[int]:
    """The caps whose ranks a ranks file holds, ascending."""
    found = set()
    for name in ranks:
        head, _, rest = name.partition("_")
        if head == "test" and rest.startswith("cap") and rest.endswith("_rank"):
            found.add(int(rest[3:-len("_rank")]))
    return sorted(found)
