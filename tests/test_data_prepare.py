"""`python -m recbole_hybrid data prepare`: GroupLens ML-1M files to RecBole atomic files, on synthetic inputs."""

from __future__ import annotations

import zipfile

import pytest

from recbole_hybrid.data.atomic import check_atomic_file
from recbole_hybrid.utils.compat import bare_argv
from recbole_hybrid.config import build_config
from recbole_hybrid.cli.main import main as console
from recbole_hybrid.data.movielens import RatingsFormatError, prepare
from recbole_hybrid.quick_start.runner import load_data
from tests.conftest import TINY

# three users with six ratings each, written out of time order; user 3 has two ratings < 4
RATINGS = "\n".join(
    f"{u}::{10 * u + k}::{5 if k % 2 else 4}::{978300000 + 100 * u + (5 - k)}" for u in (1, 2, 3) for k in range(6)
) + "\n3::99::2::978300001\n3::98::1::978300002\n"
MOVIES = "\n".join(f"{i}::Movie {i} (19{i % 100:02d})::Drama|Comedy" for i in list(range(10, 36)) + [98, 99]) + "\n"
USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"


def write_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in (("ratings.dat", RATINGS), ("movies.dat", MOVIES), ("users.dat", USERS)):
            zf.writestr(f"ml-1m/{name}", text.encode("iso-8859-1"))
    return path


def test_prepare_from_the_zip_writes_checked_files_that_run_under_the_protocol(tmp_path):
    written = prepare(write_zip(tmp_path / "ml-1m.zip"), tmp_path / "data")
    assert [p.name for p in written] == ["ml-1m.inter", "ml-1m.item", "ml-1m.user"]
    for path in written:
        check_atomic_file(path)
    rows = written[0].read_text().splitlines()
    assert rows[0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert len(rows) == 1 + 20
    user1 = [r.split("\t") for r in rows[1:7]]
    assert [int(r[3]) for r in user1] == sorted(int(r[3]) for r in user1)  # each user's ratings in time order
    assert [r[1] for r in user1] == ["15", "14", "13", "12", "11", "10"]
    assert written[1].read_text().splitlines()[1] == "10\tMovie 10\t1910\tDrama Comedy"
    assert written[2].read_text().splitlines()[1] == "1\t1\tF\t10\t48067"
    with bare_argv():
        config = build_config("SASRec", "ml-1m", [], {**TINY, "MAX_ITEM_LIST_LENGTH": 5, "L_short": 1, "L_long": 3,
                                                       "data_path": str(tmp_path / "data")})
    dataset, *_ = load_data(config)
    # the two ratings < 4 are filtered out: 18 interactions, one training row each but every user's first
    assert (dataset.user_num - 1, dataset.inter_num) == (3, 18 - 3)


def test_prepare_from_a_plain_ratings_file(tmp_path):
    (tmp_path / "ratings.dat").write_text(RATINGS)
    written = prepare(tmp_path / "ratings.dat", tmp_path / "out", name="mine")
    assert [p.name for p in written] == ["mine.inter"]  # no movies.dat / users.dat beside it


def test_bad_inputs_are_named(tmp_path, capsys):
    bad = tmp_path / "ratings.dat"
    bad.write_text("1::10::5::978300760\n1::11::five::978300761\n")
    with pytest.raises(RatingsFormatError, match=r"ratings.dat, line 2: expected UserID::MovieID::Rating::Timestamp"):
        prepare(bad, tmp_path / "out")
    assert not (tmp_path / "out" / "ml-1m" / "ml-1m.inter").exists()  # nothing half-written
    assert console(["data", "prepare", f"--ratings={tmp_path / 'missing.zip'}", f"--out={tmp_path}"]) == 2
    assert "missing.zip not found" in capsys.readouterr().err
    empty = tmp_path / "empty.dat"
    empty.write_text("\n")
    with pytest.raises(RatingsFormatError, match="no ratings found"):
        prepare(empty, tmp_path / "out")


def test_zip_without_ratings_is_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("ml-1m/movies.dat", MOVIES)
    with pytest.raises(FileNotFoundError, match=r"no ratings.dat in .*other.zip"):
        prepare(tmp_path / "other.zip", tmp_path / "out")
