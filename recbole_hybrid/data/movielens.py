"""MovieLens-1M as RecBole atomic files (``prepare``), and a dataset's size after the protocol's filters (``check_dataset``).

The command is ``recbole-hybrid data prepare|check`` (``recbole_hybrid/cli/data.py``).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from recbole_hybrid.data.atomic import check_dataset_files, fetch_dataset
from recbole_hybrid.config import build_config
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.data.lengths import group_counts, group_ranges

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ITEM_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq"
USER_HEADER = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"
PERCENTILES = (5, 25, 50, 75, 95)

warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\..*")


class RatingsFormatError(UsageError):
    """A GroupLens file line that is not of the expected form; the message names file and line."""


def _read_member(path: Path, member: str) -> str | None:
    """Text of ``member`` (e.g. ``movies.dat``) from a GroupLens zip, or from the file of that name beside ``path``."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == member]
            return zf.read(names[0]).decode("iso-8859-1") if names else None
    candidate = path.with_name(member)
    return candidate.read_text(encoding="iso-8859-1") if candidate.is_file() else None


def convert_ratings(text: str, source: str) -> list[str]:
    """GroupLens ``ratings.dat`` lines to ``.inter`` rows, sorted by user, then timestamp (stable)."""
    rows = []
    for number, line in enumerate(io.StringIO(text), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.split("::")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise RatingsFormatError(f"{source}, line {number}: expected UserID::MovieID::Rating::Timestamp "
                                     f"(integers), got {line[:80]!r}")
        rows.append(tuple(int(p) for p in parts))
    if not rows:
        raise RatingsFormatError(f"{source}: no ratings found")
    rows.sort(key=lambda r: (r[0], r[3]))
    return [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in rows]


def convert_movies(text: str) -> list[str]:
    """``movies.dat`` (``id::Title (YYYY)::G1|G2``) to ``.item`` rows in RecBole's dataset-hub convention."""
    rows = []
    for line in text.splitlines():
        if line.strip():
            item, title, genres = line.split("::")
            rows.append(f"{item}\t{title[:-7]}\t{title[-5:-1]}\t{genres.replace('|', ' ')}")
    return rows


def convert_users(text: str) -> list[str]:
    """``users.dat`` (``id::gender::age::occupation::zip``) to ``.user`` rows."""
    rows = []
    for line in text.splitlines():
        if line.strip():
            user, gender, age, occupation, zip_code = line.split("::")
            rows.append(f"{user}\t{age}\t{gender}\t{occupation}\t{zip_code}")
    return rows


def prepare(ratings: str | Path, out_dir: str | Path = "dataset", name: str = "ml-1m") -> list[Path]:
    """Write ``<out_dir>/<name>/<name>.inter`` (and ``.item``/``.user`` when available); return the paths."""
    ratings = Path(ratings)
    if not ratings.is_file():
        raise FileNotFoundError(f"{ratings} not found: pass the GroupLens ml-1m.zip or its ratings.dat")
    text = _read_member(ratings, "ratings.dat") if zipfile.is_zipfile(ratings) else \
        ratings.read_text(encoding="iso-8859-1")
    if text is None:
        raise FileNotFoundError(f"no ratings.dat in {ratings}")
    target = Path(out_dir) / name
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, header, rows in (
        ("inter", INTER_HEADER, convert_ratings(text, str(ratings))),
        ("item", ITEM_HEADER, convert_movies(t) if (t := _read_member(ratings, "movies.dat")) else None),
        ("user", USER_HEADER, convert_users(t) if (t := _read_member(ratings, "users.dat")) else None),
    ):
        if rows is None:
            continue
        path = target / f"{name}.{suffix}"
        path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        written.append(path)
    return written


class ExpectationError(ValueError):
    """The dataset does not have the expected size; the message names each count that differs.

    Not a ``UsageError``: the command ran as asked and its check failed (``data check`` exits with status 1)."""


def check_dataset(dataset: str, config_files: list[str] | None = None, overrides: dict[str, Any] | None = None,
                  expect: dict[str, int] | None = None, log=print) -> dict[str, Any]:
    """Load ``dataset`` with its protocol's filters; report and check its size and history lengths.

    Args:
        expect: expected ``users``, ``items`` and/or ``interactions`` (after the filters).
    Returns:
        ``{"users", "items", "interactions", "history_length": {"min", "max", "mean", "p5", ..., "short", "mid",
        "long"}, "sequence_rows": {"all", "train", "valid", "test"}}``. ``L`` is a user's history before the test
        target (interactions after the filters, minus one), the length the analysis groups by: short / mid / long
        count users with ``L <= L_short``, ``L_short < L <= L_long`` and ``L > L_long``. ``sequence_rows`` are
        RecBole's (prefix -> next item) rows after its split, one per interaction after each user's first:
        ``all`` is the number a run prints and records as ``data.interactions``.
    Raises:
        ExpectationError: when a count differs from ``expect``.
    """
    from recbole.data import create_dataset

    config = build_config("SASRec", dataset, config_files, overrides)
    if dataset != "ml-100k":  # as runner.load_data
        if config["allow_download"]:
            fetch_dataset(config)
        check_dataset_files(config)
    data = create_dataset(config)
    users = data.inter_feat[data.uid_field].to_numpy()
    counts = np.bincount(users)[1:]  # id 0 is RecBole's padding user
    lengths = counts[counts > 0] - 1  # leave-one-out: the last interaction is the test target
    L_short, L_long = config["L_short"], config["L_long"]
    report = {
        "users": len(lengths), "items": data.item_num - 1, "interactions": int(len(users)),
        "history_length": {
            "min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean()),
            **{f"p{p}": float(np.percentile(lengths, p)) for p in PERCENTILES},
            **group_counts(lengths, L_short, L_long),
        },
    }
    splits = data.build()  # RecBole's augmentation and leave-one-out split, as data_preparation does it
    report["sequence_rows"] = {"all": data.inter_num, **{name: part.inter_num for name, part in
                                                         zip(("train", "valid", "test"), splits)}}
    h = report["history_length"]
    log(f"{dataset} ({config['data_path']}): {report['users']} users, {report['items']} items, "
        f"{report['interactions']} interactions after val_interval={config['val_interval']}, "
        f"user_inter_num_interval={config['user_inter_num_interval']}")
    log(f"history length L before the test target: min {h['min']}, max {h['max']}, mean {h['mean']:.1f}, "
        + ", ".join(f"p{p} {h[f'p{p}']:g}" for p in PERCENTILES))
    log("users by length: " + ", ".join(f"{group} ({bounds}) {h[group]}"
                                         for group, bounds in group_ranges(L_short, L_long).items()))
    rows = report["sequence_rows"]
    log(f"RecBole's sequence rows (prefix -> next item; a run records their total as data.interactions): "
        f"{rows['all']} = train {rows['train']} + valid {rows['valid']} + test {rows['test']}")
    wrong = [f"{key}: expected {value}, found {report[key]}" for key, value in (expect or {}).items()
             if value is not None and report[key] != value]
    if wrong:
        raise ExpectationError(f"{dataset}: " + "; ".join(wrong))
    return report
