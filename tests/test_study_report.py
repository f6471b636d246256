"""``experiments study``: a tuning study's budget per model from its committed trial rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from recbole_hybrid.analysis.runs import AnalysisError
from recbole_hybrid.analysis.study import MARKERS, best_so_far, load_study, study_report
from recbole_hybrid.cli.experiments import main as experiments_main
from recbole_hybrid.utils.errors import UsageError

COLUMNS = ["trial_id", "status", "learning_rate", "valid_ndcg@10", "best_epoch", "epochs", "time_s", "ended",
           "node_id", "gpu_ids"]


def write_trials(folder: Path, label: str, rows: list[tuple]) -> None:
    out = folder / "trials" / label
    out.mkdir(parents=True, exist_ok=True)
    with (out / "trials.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for trial_id, status, score, epochs, seconds, ended in rows:
            writer.writerow([trial_id, status, 1e-3, score, 3, epochs, seconds, ended, "n1", ""])


@pytest.fixture
def study(tmp_path):
    folder = tmp_path / "2026-12-03"
    # rows sorted by score, as a search writes them; ids that say nothing of order (Ray's are 8 hex digits)
    write_trials(folder, "SASRec", [("b7", "OK", 0.12, 24, 7200.0, 2), ("a3", "OK", 0.10, 8, 1800.0, 1),
                                    ("c1", "ERROR", "", 0, 60.0, 3), ("d0", "UNFINISHED", 0.2, 5, 900.0, "")])
    write_trials(folder, "HybridDiscrete", [("h0", "OK", 0.11, 8, 3600.0, 2), ("h1", "OK", 0.09, 8, 3600.0, 1)])
    (folder / "README.md").write_text(f"# study\n\n{MARKERS[0]}\nold\n{MARKERS[1]}\n\nafter\n")
    return folder


def test_budget_counts_ended_trials_in_the_order_they_ended(study):
    trials = load_study(study)
    assert list(trials) == ["SASRec", "HybridDiscrete"]  # the baseline first
    assert [t.trial_id for t in trials["SASRec"]] == ["a3", "b7", "c1"]  # by 'ended'; UNFINISHED left out
    assert [t.trial_id for t in trials["HybridDiscrete"]] == ["h1", "h0"]
    assert best_so_far(trials["SASRec"], 1.0) == [(1, 0.5, 0.10), (2, 2.5, 0.12), (3, 2.5 + 60 / 3600, 0.12)]
    budgets = study_report(study, cpus_per_trial=2.0)
    assert budgets["SASRec"] == {"trials": 3, "errors": 1, "epochs": 32, "cpu_hours": pytest.approx(5.0 + 120 / 3600),
                                 "best_valid_ndcg@10": 0.12, "best_trial": "b7"}
    assert budgets["HybridDiscrete"]["cpu_hours"] == pytest.approx(4.0)
    assert json.loads((study / "study.json").read_text())["budget"]["SASRec"]["trials"] == 3
    assert (study / "study.png").stat().st_size > 0
    text = (study / "README.md").read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "| SASRec | 3 | 1 | 32 | 5.0 | 0.1200 | b7 |" in text and "(study.png)" in text
    top = study.parent / "TOP.md"
    top.write_text(f"{MARKERS[0]}\n{MARKERS[1]}\n")
    study_report(study, readme=top)
    assert "(2026-12-03/study.png)" in top.read_text()  # the figure's link is relative to the file it is in


def test_the_best_configurations_stand_side_by_side(study):
    """Each model's best trial's sampled values in one table; a key only one space has gets a dash elsewhere."""
    out = study / "trials" / "HybridDiscrete" / "trials.csv"
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*COLUMNS, "L_short"])
        writer.writerow(["h0", "OK", 0.000123456, 0.11, 12, 24, 3600.0, 1, "n1", "", 7])
    study_report(study)
    text = (study / "README.md").read_text()
    assert "| setting | SASRec | HybridDiscrete |" in text
    assert "| best validation NDCG@10 | 0.1200 | 0.1100 |" in text
    assert "| at epoch | 3 | 12 |" in text and "| trial | b7 | h0 |" in text
    assert "| `L_short` | - | 7 |" in text and "| `learning_rate` | 0.001 | 0.000123 |" in text
    assert "node_id" not in text and "`best_epoch`" not in text  # where it ran and when it peaked are no settings


def test_bad_study_input_is_one_line_naming_it(study, tmp_path):
    with pytest.raises(UsageError, match=r"no such study folder"):
        experiments_main(["study", str(tmp_path / "nowhere")])
    with pytest.raises(AnalysisError, match=r"no trials/<model>/trials.csv yet"):
        study_report(tmp_path)
    (study / "trials" / "SASRec" / "trials.csv").write_text("trial_id,status\nx,OK\n")
    with pytest.raises(AnalysisError, match=r"SASRec/trials.csv: not a trials CSV \(no column 'valid_ndcg@10'\)"):
        study_report(study)
    write_trials(study, "SASRec", [("t_00000", "OK", "high", 8, 10.0, 1)])
    with pytest.raises(AnalysisError, match=r"row 2 \(t_00000\) has a value that is not a number"):
        study_report(study)
    write_trials(study, "SASRec", [("t_00000", "OK", 0.1, 8, 10.0, "")])
    with pytest.raises(AnalysisError, match=r"row 2 \(t_00000\) ended without a place in 'ended'.*ended_from_git"):
        study_report(study)
    write_trials(study, "SASRec", [("a", "OK", 0.1, 8, 10.0, 1), ("b", "ERROR", "", 0, 1.0, 1)])
    with pytest.raises(AnalysisError, match=r"two trials ended in place 1"):
        study_report(study)
    out = study / "trials" / "SASRec" / "trials.csv"
    out.write_text("trial_id,status,valid_ndcg@10,epochs,time_s\nx,OK,0.1,8,10\n")  # a CSV from before the column
    with pytest.raises(AnalysisError, match=r"SASRec/trials.csv: no column 'ended'.*tune/ended_from_git.py"):
        study_report(study)
    (study / "README.md").write_text("no markers\n")
    write_trials(study, "SASRec", [("t_00000", "OK", 0.1, 8, 10.0, 1)])
    with pytest.raises(AnalysisError, match=r"README.md needs the line"):
        study_report(study)


def test_the_column_names_agree_with_the_searchs_own():
    """The analysis repeats names that the search owns (it may not import Ray): they must stay the same."""
    from recbole_hybrid.analysis.study import NOT_SETTINGS, SCORE
    from recbole_hybrid.tuning.report import ROW_COLUMNS
    from recbole_hybrid.tuning.trial import METRIC

    assert SCORE == METRIC
    assert set(ROW_COLUMNS) == {"trial_id", "status", SCORE, "epochs", "time_s", "ended", *NOT_SETTINGS}
