"""The search's storage path, a local folder or a URI (``s3://``, ``gs://``, ``file://``), as Ray Tune takes it.

Ray writes the experiment (results, checkpoints, searcher state) there through ``pyarrow.fs``; the search keeps its
own ``search_spec.json`` beside it the same way, so that ``--resume`` works from any node that can reach it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs

from recbole_hybrid.utils.errors import UsageError


class StorageError(UsageError, OSError):
    """A storage path that cannot be reached or read; the message names it."""


def is_uri(location: str) -> bool:
    """``s3://bucket/x``, ``gs://...``, ``file:///abs`` ... (a scheme Ray hands to ``pyarrow.fs``)."""
    return "://" in location


def normalize(location: str | Path) -> str:
    """A URI as given (Ray resolves it); a local path made absolute (trials run in other working directories)."""
    location = str(location)
    return location.rstrip("/") if is_uri(location) else str(Path(location).expanduser().resolve())


def join(location: str, *parts: str) -> str:
    """``location/part/...`` for a URI or a local path."""
    if is_uri(location):
        return "/".join([location.rstrip("/"), *parts])
    return str(Path(location, *parts))


def _filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    if not is_uri(location):
        return pyarrow.fs.LocalFileSystem(), location
    try:
        return pyarrow.fs.FileSystem.from_uri(location)
    except (pyarrow.ArrowException, OSError, ValueError) as err:
        raise StorageError(f"storage path {location}: cannot open it ({str(err).splitlines()[0]})") from None


def exists(location: str) -> bool:
    """Whether a file or folder exists at ``location``."""
    fs, path = _filesystem(location)
    try:
        return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound
    except (pyarrow.ArrowException, OSError) as err:
        raise StorageError(f"{location}: cannot reach it ({str(err).splitlines()[0]})") from None


def read_text(location: str) -> str:
    fs, path = _filesystem(location)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def write_text(location: str, text: str) -> None:
    """Write ``text`` to the file ``location``, creating its folder."""
    fs, path = _filesystem(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode())
