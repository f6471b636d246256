"""One process per run folder: a lock file beside ``<checkpoint_dir>/<run_id>/`` naming its owner.

Two processes training the same run folder (two grid scripts over the same labels, a run started twice) would
overwrite each other's ``last.pth``. ``run_lock`` creates ``<run_id>.lock`` atomically (``O_EXCL``) with the owner's
host and pid and removes it when the run ends. A lock whose process is gone (killed, crashed; a zombie counts as
gone) is taken over, so an interrupted run resumes without a manual step. A lock from another host is respected:
its process cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from recbole_hybrid.utils.errors import RunInUseError


def lock_path(run_dir: Path) -> Path:
    """``<checkpoint_dir>/<run_id>.lock``: beside the run folder, so a run that never starts leaves no folder."""
    return run_dir.with_name(run_dir.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed child its parent has not reaped yet is a zombie: it trains nothing
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def lock_holder(path: Path) -> str | None:
    """Who holds the lock ``path`` (``"host pid"``), or None when its process is gone."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    host, _, pid = text.partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return text or "a process that is still writing the lock"
    return text if _alive(int(pid)) else None


@contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold the lock of ``run_dir`` while the block runs; refuse when a live process holds it.

    Raises:
        RunInUseError: another live process (or one on another host) holds the lock; the message names it.
    """
    path = lock_path(Path(run_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = lock_holder(path)
            if holder is not None:
                raise RunInUseError(f"run folder {run_dir} is in use by {holder} (lock {path}); wait for it to end, "
                                    f"or delete the lock if that process is gone") from None
            path.unlink(missing_ok=True)  # its process is gone: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}")
        break
    else:
        raise RunInUseError(f"run folder {run_dir}: another process took its lock {path} at the same time")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
