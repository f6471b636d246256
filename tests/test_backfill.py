"""``tune/ended_from_git.py``: the ``ended`` column of a trials CSV from before it, recovered from git history."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from recbole_hybrid.tuning.backfill import BackfillError, ended_from_git, history_order

COLUMNS = ["trial_id", "status", "valid_ndcg@10", "epochs", "time_s", "node_id"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def land(repo: Path, rows: list[tuple[str, str, float]], curves: list[str], message: str) -> None:
    """Write trials.csv (sorted by score, as a search does) and curves.csv (trials in the order they ended), commit."""
    out = repo / "trials"
    out.mkdir(exist_ok=True)
    with (out / "trials.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for trial_id, status, score in sorted(rows, key=lambda r: -r[2]):
            writer.writerow([trial_id, status, score, 8, 60.0, "n1"])
    (out / "curves.csv").write_text("trial_id,epoch,valid_ndcg@10\n" + "".join(f"{t},1,0.1\n" for t in curves))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    land(tmp_path, [("f3", "OK", 0.2)], ["f3"], "first")
    # two trials landed in one commit: curves.csv says which ended first (c9 is the better one, listed first in
    # trials.csv)
    land(tmp_path, [("f3", "OK", 0.2), ("c9", "OK", 0.3), ("a1", "ERROR", 0.0)], ["f3", "a1", "c9"], "second")
    return tmp_path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_ended_is_filled_from_the_order_rows_were_committed_then_the_curves(repo):
    path = repo / "trials" / "trials.csv"
    assert history_order(path) == {"f3": (0, 0), "a1": (1, 0), "c9": (1, 1)}
    # the working copy counts as the last commit: a row not yet committed ended last
    rows = read(path)
    with path.open("a", newline="") as f:
        csv.writer(f).writerow(["b2", "OK", 0.25, 8, 60.0, "n1"])
    with (repo / "trials" / "curves.csv").open("a") as f:
        f.write("b2,1,0.25\n")
    assert ended_from_git(path) == 4
    after = read(path)
    assert list(after[0]) == ["trial_id", "status", "valid_ndcg@10", "epochs", "time_s", "ended", "node_id"]
    assert {r["trial_id"]: r["ended"] for r in after} == {"c9": "3", "f3": "1", "a1": "2", "b2": "4"}
    assert [{k: v for k, v in r.items() if k != "ended"} for r in after[:3]] == rows  # nothing else changes
    assert ended_from_git(path) == 0  # nothing left to fill


def test_rows_numbered_by_a_search_come_after_the_ones_it_fills(repo):
    path = repo / "trials" / "trials.csv"
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0] + ",ended", *(line + "," for line in text[1:]), "n7,OK,0.1,8,60.0,n1,4", ""]))
    assert ended_from_git(path) == 3
    assert {r["trial_id"]: r["ended"] for r in read(path)} == {"c9": "3", "f3": "1", "a1": "2", "n7": "4"}
    # f3 and a1 without a place again, n7 numbered 2: a place the two rows from before the column must hold
    path.write_text(path.read_text().replace(",n1,1", ",n1,").replace(",n1,2", ",n1,").replace(",n1,4", ",n1,2"))
    before = path.read_text()
    with pytest.raises(BackfillError, match=r"2 rows without 'ended' but a row numbered 2"):
        ended_from_git(path)
    assert path.read_text() == before


def test_bad_input_is_one_line_and_leaves_the_file_as_it_was(repo, tmp_path):
    with pytest.raises(BackfillError, match=r"nowhere.csv: no such trials CSV"):
        ended_from_git(repo / "nowhere.csv")
    other = repo / "trials" / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(BackfillError, match=r"other.csv: not a trials CSV"):
        ended_from_git(other)
    assert other.read_text() == "a,b\n1,2\n"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "tune" / "ended_from_git.py"), str(other)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout.strip().startswith("error: ") and len(done.stdout.splitlines()) == 1
