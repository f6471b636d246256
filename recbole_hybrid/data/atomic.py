"""Checks of RecBole atomic files before RecBole reads them: a bad file must never become a wrong dataset.

RecBole 1.2.1 reads atomic files with pandas and turns most defects into a confusing traceback or, worse, a quietly
different dataset (a short row becomes NaNs, a text in a float column becomes a token). ``check_atomic_file``
refuses such a file with an ``AtomicFileError`` that names the file, the line and the problem.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_hybrid.utils.errors import DownloadError, UsageError
from recbole_hybrid.utils.progress_display import phase, progress_enabled

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")


class AtomicFileError(UsageError):
    """A malformed atomic file: ``str(err)`` is ``"<path>, line <n>: <problem>"``."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def parse_header(path: str | Path, header: str) -> list[tuple[str, str]]:
    """``[(name, type), ...]`` from a header line ``name:type<TAB>name:type...``."""
    fields = []
    for column, cell in enumerate(header.split("\t"), start=1):
        if cell != cell.strip():
            raise AtomicFileError(path, 1, f"header column {column} {cell!r} has spaces around it, which RecBole "
                                           f"would keep in the field's name")
        if cell.startswith('"'):
            raise AtomicFileError(path, 1, f"header column {column} {cell!r} starts with a double quote (RecBole's "
                                           f"reader would unquote it or join columns)")
        name, sep, ftype = cell.partition(":")
        if not sep or not name:
            raise AtomicFileError(path, 1, f"header column {column} {cell!r} is not of the form name:type")
        if ftype not in FIELD_TYPES:
            raise AtomicFileError(path, 1, f"header column {column} {cell!r} has unknown type {ftype!r} "
                                           f"(expected one of {', '.join(FIELD_TYPES)})")
        if any(name == n for n, _ in fields):
            raise AtomicFileError(path, 1, f"header names field {name!r} twice")
        fields.append((name, ftype))
    return fields


#: Cells that pandas (RecBole's reader) turns into a missing value: a token spelled so would be silently lost.
PANDAS_NA = frozenset(("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"))


def check_atomic_file(path: str | Path, encoding: str = "utf-8", seq_separator: str = " ") -> list[tuple[str, str]]:
    """Check one atomic file; return its ``[(name, type), ...]`` or raise ``AtomicFileError``.

    Checks: the file exists and is not empty; it decodes, without a byte-order mark; lines end in LF or CRLF, with
    no other control character that a CSV reader would take as a line break, and none is blank; the header is
    ``name:type`` columns of RecBole's types; no later line repeats the header; every row has the header's number of
    columns; no cell starts with a double quote (pandas would read a quoted cell) or is a token that pandas reads as
    missing (``NA``, ``null``, ...); every value of a float field (each element of a float_seq) is a finite number,
    with at most 16 digits after the decimal point, or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise AtomicFileError(path, None, "file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise AtomicFileError(path, None, "file is empty")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise AtomicFileError(path, line, f"bytes that are not valid {encoding} ({err.reason})") from None
    if text.startswith("\ufeff"):
        raise AtomicFileError(path, 1, "starts with a byte-order mark, which RecBole would read into the first "
                                       "field's name (save without BOM or set encoding: utf-8-sig)")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    for number, ln in enumerate(lines, start=1):
        if ln.strip() == "":
            raise AtomicFileError(path, number, "blank line (RecBole's reader would skip it silently)")
        bad = _CONTROL.search(ln)
        if bad:
            raise AtomicFileError(path, number, f"control character {bad.group()!r} inside the line")
        if "\ufeff" in ln:  # pandas drops one at the start of the rows it reads: a token would change
            raise AtomicFileError(path, number, "a byte-order mark (U+FEFF) inside the line")
    header = lines[0]
    fields = parse_header(path, header)
    if len(lines) == 1:
        raise AtomicFileError(path, 1, "header only, no rows")
    n_tabs = np.fromiter((ln.count("\t") for ln in lines), dtype=np.int64, count=len(lines))
    bad = np.nonzero(n_tabs != len(fields) - 1)[0]
    if len(bad):
        i = int(bad[0])
        raise AtomicFileError(path, i + 1, f"{n_tabs[i] + 1} columns where the header has {len(fields)}")
    repeated = [i for i, ln in enumerate(lines[1:], start=2) if ln == header]
    if repeated:
        raise AtomicFileError(path, repeated[0], "the header line appears again")
    cells = pd.read_csv(io.StringIO("\n".join(lines[1:])), sep="\t", header=None, dtype=str,
                        quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False, skip_blank_lines=False)
    for j, (name, ftype) in enumerate(fields):
        col = cells[j]
        quoted = col.str.startswith('"')
        if quoted.any():
            row = int(quoted.idxmax())
            raise AtomicFileError(path, row + 2, f"field {name!r} holds {col[row]!r}, which starts with a double "
                                                 f"quote (RecBole's reader would unquote it or join columns)")
        if ftype.startswith("token"):
            missing = col.isin(PANDAS_NA)
            if missing.any():
                row = int(missing.idxmax())
                raise AtomicFileError(path, row + 2, f"field {name!r} holds {col[row]!r}, which RecBole's reader "
                                                     f"(pandas) would turn into a missing value")
        if ftype.startswith("float"):
            _check_floats(path, name, ftype, col, seq_separator)
    return fields


#: pandas' python engine, which RecBole reads with, keeps 16 digits after the decimal point ("0.00000000000000001049"
#: reads as 0.0).
MAX_DECIMALS = 16
#: What pandas reads as a float: ASCII digits, one optional point, an optional exponent (no "inf", "nan", "_", or
#: non-ASCII digits, which float() would take).
_FLOAT_SYNTAX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")  # tab (x09) separates columns


def _check_floats(path: Path, name: str, ftype: str, col: pd.Series, seq_separator: str) -> None:
    """Every element is a finite number (``float()`` syntax without underscores) or empty."""
    col = col.str.strip()
    if ftype == "float_seq":
        col = col.str.split(seq_separator).explode()
        col = col[col != ""]
    # float() on text that matched the pattern, not pd.to_numeric on arbitrary text: pandas' C parser crashed the
    # interpreter (segfault) in one CI run of the corrupted-file property test; reruns of the same examples passed.
    texts = col.to_numpy(dtype=object)
    syntax = col.str.fullmatch(_FLOAT_SYNTAX).fillna(False).to_numpy(dtype=bool)
    finite = np.zeros(len(texts), dtype=bool)
    finite[syntax] = [math.isfinite(float(text)) for text in texts[syntax]]
    wrong = pd.Series(~finite & (texts != ""), index=col.index)
    if wrong.any():
        row = int(wrong[wrong].index[0])
        raise AtomicFileError(path, row + 2, f"field {name!r} ({ftype}) holds {col[wrong].iloc[0]!r}, "
                                             f"not a finite number")
    decimals = col.str.extract(r"\.(\d*)", expand=False).fillna("").str.len()
    long = decimals > MAX_DECIMALS
    if long.any():
        row = int(long[long].index[0])
        raise AtomicFileError(path, row + 2, f"field {name!r} ({ftype}) holds {col[long].iloc[0]!r}, with more "
                                             f"than {MAX_DECIMALS} digits after the decimal point, which RecBole's "
                                             f"reader (pandas, python engine) drops: write it as e.g. 1.049e-17")


def check_dataset_files(config) -> list[Path]:
    """Check every atomic file of the configured dataset that RecBole will load; return their paths.

    Raises ``FileNotFoundError`` naming the expected path when the ``.inter`` file is missing.
    """
    name = config["dataset"]
    folder = Path(config["data_path"])
    inter = folder / f"{name}.inter"
    if not inter.is_file():
        raise FileNotFoundError(
            f"dataset {name!r}: {inter} not found. Put RecBole atomic files in {folder} "
            f"(see dataset/README.md: `python -m recbole_hybrid data prepare --ratings ...` writes them), "
            f"point --data_path at their parent folder, or pass --allow_download=True to let RecBole fetch it."
        )
    load_col = config["load_col"] or {}
    paths = [inter] + [folder / f"{name}.{suffix}" for suffix in load_col if suffix != "inter"]
    for path in paths:
        check_atomic_file(path, encoding=config["encoding"] or "utf-8", seq_separator=config["seq_separator"] or " ")
    return paths


def known_download_url(name: str) -> str | None:
    """The address RecBole downloads dataset ``name`` from (its ``properties/dataset/url.yaml``), or None."""
    import recbole
    import yaml

    table = Path(recbole.__file__).parent / "properties" / "dataset" / "url.yaml"
    try:
        urls = yaml.safe_load(table.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    url = urls.get(name)
    return str(url) if url else None


def _download_failure(err: BaseException) -> str:
    """One line saying why a download failed."""
    if isinstance(err, urllib.error.HTTPError):
        text = f"HTTP {err.code} {err.reason}"
    elif isinstance(err, urllib.error.URLError):  # its reason: a socket error ("Temporary failure in name ...")
        reason = err.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    elif isinstance(err, OSError) and err.strerror:
        text = err.strerror
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


def fetch_dataset(config) -> Path | None:
    """With ``allow_download``: download a missing dataset folder as RecBole's ``Dataset._download`` would.

    RecBole downloads when the folder ``config["data_path"]`` (``<data_path>/<dataset>``) does not exist. Done by
    RecBole itself, a failure ends in a long traceback (a ``URLError`` without network), and even a download that
    works ends in ``torch.distributed.barrier()``, which raises outside a distributed run. Here the same steps
    (RecBole's ``decide_download``, ``download_url``, ``extract_zip``, ``rename_atomic_files``) run before RecBole
    reads the folder; any failure removes the folder it created and raises ``DownloadError``: one line naming the
    dataset, the address and how to provide the files offline.

    Returns:
        The folder when it was downloaded, None when it existed already (nothing to do).
    """
    folder = Path(config["data_path"])
    if folder.exists():
        return None
    name = config["dataset"]
    root = folder.parent
    offline = (f"put its atomic files in {folder} ({name}.inter, ...) and pass --data_path={root}"
               + (f", or write them from GroupLens' ml-1m.zip: `recbole-hybrid data prepare --ratings ml-1m.zip "
                  f"--out={root} --name={name}`" if name.startswith("ml-1m") else ""))
    url = known_download_url(name)
    if url is None:
        raise DownloadError(f"dataset {name!r}: {folder} not found, and RecBole knows no address to download "
                            f"{name!r} from: {offline}")
    from recbole.utils.url import decide_download, download_url, extract_zip, rename_atomic_files

    created = False
    try:
        with phase(progress_enabled(config), "data", f"downloading {name} from {url}"):
            if not decide_download(url):  # asks before more than 1 GB
                raise DownloadError(f"dataset {name!r}: download of {url} declined; {offline}")
            folder.mkdir(parents=True)
            created = True
            archive = download_url(url, str(folder))
            extract_zip(archive, str(folder))
            os.unlink(archive)
            rename_atomic_files(str(folder), os.path.splitext(os.path.basename(archive))[0], name)
    except (urllib.error.URLError, OSError, RuntimeError, EOFError, zipfile.BadZipFile) as err:
        # RuntimeError: RecBole's download_url turns any error (and Ctrl-C) while reading into one;
        # EOFError: its question before a large download, without a terminal.
        if created:  # made by this call: what it holds is the broken download, nothing of the user's
            shutil.rmtree(folder, ignore_errors=True)
        raise DownloadError(f"dataset {name!r}: could not download {url} ({_download_failure(err)}). "
                            f"Without network, {offline}") from None
    return folder
