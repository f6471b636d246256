"""Dataset commands: ``python -m recbole_hybrid.data prepare --ratings path/to/ml-1m.zip|ratings.dat``.

``prepare`` writes RecBole atomic files from the GroupLens MovieLens-1M download (``UserID::MovieID::Rating::
Timestamp`` lines, ISO-8859-1), for users who are offline or want their own copy; RecBole downloads ML-1M itself
when online. With the zip, ``movies.dat`` and ``users.dat`` become the ``.item`` and ``.user`` files as well.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ITEM_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq"
USER_HEADER = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"


class RatingsFormatError(ValueError):
    """A GroupLens file line that is not of the expected form; the message names file and line."""


def _read_member(path: Path, member: str) -> str | None:
    """Text of ``member`` (e.g. ``ratings.dat``) from a GroupLens zip or from a plain file beside ``path``."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == member]
            return zf.read(names[0]).decode("iso-8859-1") if names else None
    candidate = path if path.name == member else path.with_name(member)
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
    if not ratings.exists():
        raise FileNotFoundError(f"{ratings} not found: pass the GroupLens ml-1m.zip or its ratings.dat")
    text = _read_member(ratings, "ratings.dat")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_hybrid.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="write RecBole atomic files from the GroupLens ML-1M download")
    p.add_argument("--ratings", required=True, help="ml-1m.zip or its ratings.dat")
    p.add_argument("--out", default="dataset", help="data_path folder (default: dataset)")
    p.add_argument("--name", default="ml-1m", help="dataset name (default: ml-1m)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        try:
            for path in prepare(args.ratings, args.out, args.name):
                print(f"wrote {path}")
        except (FileNotFoundError, RatingsFormatError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
