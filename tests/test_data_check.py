"""`python -m recbole_hybrid data check`: sizes after the protocol's filters, and failed expectations."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT_ROOT
from recbole_hybrid.cli.main import main as console
from recbole_hybrid.data.movielens import ExpectationError, check_dataset


def test_check_reports_the_filtered_dataset_and_fails_on_a_wrong_expectation(capsys):
    lines = []
    report = check_dataset("ml-100k", expect={"users": 938}, log=lines.append)
    assert (report["users"], report["items"], report["interactions"]) == (938, 1447, 55361)
    h = report["history_length"]
    assert h["min"] == 4  # users need 5 ratings >= 4; the last one is the test target
    assert h["short"] + h["mid"] + h["long"] == 938
    assert "938 users, 1447 items, 55361 interactions" in lines[0]
    # one (prefix -> next item) row per interaction after each user's first; the last two rows are valid and test
    assert report["sequence_rows"] == {"all": 55361 - 938, "train": 55361 - 3 * 938, "valid": 938, "test": 938}
    with pytest.raises(ExpectationError, match="users: expected 6034, found 938; items: expected 3, found 1447"):
        check_dataset("ml-100k", expect={"users": 6034, "items": 3, "interactions": 55361}, log=lines.append)


def test_command_line_exit_codes(capsys, tmp_path):
    assert console(["data", "check", "--dataset=ml-100k", "--expect_users=5"]) == 1
    assert "check failed: ml-100k: users: expected 5, found 938" in capsys.readouterr().err
    assert console(["data", "check", "--dataset=ml-100k", "--expect_users=938",
                    "--user_inter_num_interval=[5,20]"]) == 1  # RecBole settings as --key=value reach the check
    assert "users: expected 938, found" in capsys.readouterr().err
    assert console(["data", "check", "--dataset=ml-1m", f"--data_path={tmp_path}"]) == 2
    assert f"{tmp_path}/ml-1m/ml-1m.inter not found" in capsys.readouterr().err
    assert console(["data", "prepare", "--ratings=x.zip", "--lr=1"]) == 2  # prepare takes no RecBole settings
    assert "unrecognized arguments: --lr=1" in capsys.readouterr().err


def test_a_run_records_the_sequence_rows_as_its_interactions():
    """The committed demo records' ``data.interactions`` is RecBole's row count, not the filtered interactions."""
    import json

    demo = PROJECT_ROOT / "results" / "ml-100k-demo" / "runs" / "SASRec-ml-100k-pipeline-seed2020.json"
    recorded = json.loads(demo.read_text())["data"]
    report = check_dataset("ml-100k", [str(PROJECT_ROOT / "configs" / "ml-100k" / "2026-11-27-demo.yaml")],
                           log=lambda line: None)
    assert recorded["interactions"] == report["sequence_rows"]["all"] == report["interactions"] - report["users"]


SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED_DATA / "ml-1m" / "ml-1m.inter").is_file(),
                    reason="ML-1M copy not present (not redistributable)")
def test_seed_protocol_of_ml1m_has_6034_users(capsys):
    assert console(["data", "check", "--dataset=ml-1m", f"--data_path={SHARED_DATA}", "--expect_users=6034"]) == 0
    assert "6034 users" in capsys.readouterr().out
