"""Never resume the wrong run: a run folder records its defining settings, and a resume with others is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recbole_hybrid.cli.main import main as console
from recbole_hybrid.config import build_config
from tests.conftest import PROJECT_ROOT
from recbole_hybrid.utils.errors import RunMismatchError, UsageError
from recbole_hybrid.utils.fingerprint import NOT_DEFINING, differences, run_settings
from recbole_hybrid.utils.records import load_checkpoint
from recbole_hybrid.quick_start.runner import INVOCATION, resume_run, run_experiment
from tests.conftest import TINY

#: ml-100k cut to its 256 users with at most 20 interactions: a run of one epoch takes a few seconds.
SMALL = {**TINY, "user_inter_num_interval": "[5,20]"}


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished 1-epoch HybridDiscrete run ``r`` and its settings."""
    out = tmp_path_factory.mktemp("fingerprint")
    settings = {**SMALL, "results_dir": str(out / "runs"), "checkpoint_dir": str(out / "saved"),
                "graph_cache_dir": str(out / "graph")}
    record = run_experiment("HybridDiscrete", "ml-100k", [], settings, run_id="r", log=quiet)
    return {"out": out, "settings": settings, "record": record, "run_dir": out / "saved" / "r"}


def snapshot(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_the_run_folder_records_its_defining_settings(one_epoch):
    invocation = json.loads((one_epoch["run_dir"] / INVOCATION).read_text())
    recorded = invocation["fingerprint"]["settings"]
    assert recorded["model"] == "HybridDiscrete" and recorded["learning_rate"] == 0.001
    assert recorded["user_inter_num_interval"] == [5, 20] and recorded["alpha_short"] == 0.3
    assert recorded["hidden_size"] == 32 and recorded["seed"] == 2020 and recorded["eval_args"]["order"] == "TO"
    assert not NOT_DEFINING & set(recorded)  # epochs, paths, device, ... are not in it
    assert one_epoch["record"]["fingerprint"] == invocation["fingerprint"]["sha256"]


@pytest.mark.parametrize("changed, key", [({"learning_rate": 0.01}, "learning_rate 0.001 -> 0.01"),
                                          ({"alpha_short": 0.4}, "alpha_short 0.3 -> 0.4"),
                                          ({"user_inter_num_interval": "[5,30]"}, "user_inter_num_interval")])
def test_resume_with_another_setting_is_refused_naming_the_key(one_epoch, changed, key):
    run_dir = one_epoch["run_dir"]
    before, runs_before = snapshot(run_dir), snapshot(one_epoch["out"] / "runs")
    with pytest.raises(RunMismatchError, match=rf"run folder {run_dir} was made with other settings \({key}") as err:
        run_experiment("HybridDiscrete", "ml-100k", [], {**one_epoch["settings"], **changed}, run_id="r",
                       resume=True, log=quiet)
    assert "start fresh under another run id (or delete that folder)" in str(err.value)
    assert "\n" not in str(err.value)
    assert snapshot(run_dir) == before and snapshot(one_epoch["out"] / "runs") == runs_before  # nothing touched


def test_another_model_in_the_same_folder_is_refused(one_epoch):
    with pytest.raises(RunMismatchError, match=r"model 'HybridDiscrete' -> 'SASRec'"):
        run_experiment("SASRec", "ml-100k", [], one_epoch["settings"], run_id="r", resume=True, log=quiet)


def test_a_folder_without_recorded_fingerprint_is_checked_against_its_last_checkpoint(one_epoch, tmp_path):
    legacy = tmp_path / "saved" / "old"
    legacy.mkdir(parents=True)
    for name in ("last.pth", "best.pth"):
        (legacy / name).write_bytes((one_epoch["run_dir"] / name).read_bytes())
    invocation = json.loads((one_epoch["run_dir"] / INVOCATION).read_text())
    del invocation["fingerprint"]  # as written before fingerprints existed
    (legacy / INVOCATION).write_text(json.dumps(invocation))
    settings = {**one_epoch["settings"], "checkpoint_dir": str(tmp_path / "saved"), "hidden_size": 64}
    with pytest.raises(RunMismatchError, match=r"hidden_size 32 -> 64"):
        run_experiment("HybridDiscrete", "ml-100k", [], settings, run_id="old", resume=True, log=quiet)


def test_a_fresh_start_never_overwrites_a_run_folder(one_epoch):
    with pytest.raises(RunMismatchError, match=r"already holds a run: resume it"):
        run_experiment("HybridDiscrete", "ml-100k", [], one_epoch["settings"], run_id="r", log=quiet)


def test_same_settings_resume_and_epochs_may_be_raised(one_epoch, tmp_path):
    run_dir = tmp_path / "saved" / "r"
    run_dir.mkdir(parents=True)
    for name in ("last.pth", "best.pth", INVOCATION):
        (run_dir / name).write_bytes((one_epoch["run_dir"] / name).read_bytes())
    invocation = json.loads((run_dir / INVOCATION).read_text())
    invocation["overrides"]["results_dir"] = str(tmp_path / "runs")
    (run_dir / INVOCATION).write_text(json.dumps(invocation))
    # moved folder, other results folder, other eval batch size and a larger budget: the same run
    record = resume_run(run_dir, log=quiet, epochs=2)
    assert [e["epoch"] for e in record["epochs"]] == [0, 1]
    assert record["epochs"][0] == one_epoch["record"]["epochs"][0]
    assert load_checkpoint(run_dir / "last.pth")["epoch"] == 1
    assert json.loads((run_dir / INVOCATION).read_text())["overrides"]["epochs"] == 2  # a later resume keeps it
    again = run_experiment("HybridDiscrete", "ml-100k", [],
                           {**one_epoch["settings"], "checkpoint_dir": str(tmp_path / "saved"),
                            "results_dir": str(tmp_path / "runs"), "eval_batch_size": 128, "epochs": 2},
                           run_id="r", resume=True, log=quiet)
    assert again["best_epoch"] == record["best_epoch"] and again["test"] == pytest.approx(record["test"])


def test_a_refused_start_leaves_no_run_folder(tmp_path):
    settings = {**SMALL, "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                "data_path": str(tmp_path / "no-data")}
    with pytest.raises(FileNotFoundError, match="ml-1m.inter not found"):
        run_experiment("HybridDiscrete", "ml-1m", [], settings, run_id="broken", log=quiet)
    assert not (tmp_path / "saved" / "broken").exists()


def test_a_start_that_fails_before_its_first_epoch_ends_leaves_no_run_folder(tmp_path, monkeypatch):
    from recbole_hybrid.quick_start import runner
    from recbole_hybrid.trainer.finite import NonFiniteLossError

    def diverges(config, model, train, valid, test, run_dir, **_):
        (run_dir / "best.pth").write_bytes(b"")  # as if killed between best.pth and last.pth of epoch 0
        raise NonFiniteLossError(float("nan"), 0, 3)

    monkeypatch.setattr(runner, "fit_and_test", diverges)
    settings = {**SMALL, "results_dir": str(tmp_path / "runs"), "checkpoint_dir": str(tmp_path / "saved"),
                "graph_cache_dir": str(tmp_path / "graph")}
    with pytest.raises(NonFiniteLossError):
        run_experiment("HybridDiscrete", "ml-100k", [], settings, run_id="nan", log=quiet)
    assert not (tmp_path / "saved" / "nan").exists() and (tmp_path / "saved").is_dir()


def test_run_settings_and_differences():
    config = build_config("HybridDiscrete", "ml-100k", [], {**SMALL, "epochs": 3})
    settings = run_settings(config)
    assert "epochs" not in settings and "checkpoint_dir" not in settings and "device" not in settings
    assert run_settings(json.loads(json.dumps(settings))) == settings  # a saved plain config gives the same
    other = run_settings(build_config("HybridDiscrete", "ml-100k", [], {**SMALL, "epochs": 9, "use_gpu": True,
                                                                          "eval_batch_size": 64}))
    assert differences(settings, other) == {}
    assert differences({**settings, "old_key": 1}, {**settings, "new_key": 2}) == {}  # only shared keys count
    # auto resolved before the fingerprint: the mode and batch used, not the defaults auto picked them from
    assert (settings["train_mode"], settings["train_batch_size"]) == ("sequence", 2048)
    assert not {"sequence_batch_default", "prefix_batch_default"} & set(settings)
    older = {key: value for key, value in settings.items() if key != "train_mode"}  # recorded before train_mode
    assert differences(older, settings) == {"train_mode": ("prefix", "sequence")}  # it trained prefix rows
    # a sequence run recorded before sequence_loss_weight averaged every step over its own positions
    assert settings["sequence_loss_weight"] == "target"
    before_weight = {key: value for key, value in settings.items() if key != "sequence_loss_weight"}
    assert differences(before_weight, settings) == {"sequence_loss_weight": ("batch", "target")}
    # a hybrid recorded before item_gate gated nothing: the same run as item_gate none, not as item_gate learned
    before_gate = {key: value for key, value in settings.items() if key != "item_gate"}
    assert settings["item_gate"] == "none" and differences(before_gate, settings) == {}
    assert differences(before_gate, {**settings, "item_gate": "learned"}) == {"item_gate": ("none", "learned")}


def test_keys_only_sequence_mode_reads_do_not_define_a_prefix_run():
    prefix = run_settings(build_config("HybridContinuous", "ml-100k", [], {**SMALL, "train_mode": "prefix"}))
    other = {**prefix, "sequence_batching": "random", "sequence_loss_weight": "batch", "sequence_windows": "last",
             "sequence_alpha_tolerance": 0.1}
    assert differences(prefix, other) == {}
    assert differences({**prefix, "train_mode": "sequence"}, {**other, "train_mode": "sequence"}) == {
        "sequence_alpha_tolerance": (0.02, 0.1), "sequence_batching": ("length", "random"),
        "sequence_loss_weight": ("target", "batch"), "sequence_windows": ("all", "last")}


def test_resume_on_the_command_line_takes_only_a_budget(one_epoch, capsys):
    assert console(["run", f"--resume={one_epoch['run_dir']}", "--lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recbole-hybrid run: error: --resume continues a run with the settings it was started "
                          "with: drop --learning_rate") and err.count("\n") == 1


def test_command_line_refuses_a_run_folder_made_with_other_settings(one_epoch, tmp_path):
    """The one-line message through the console entry, in a real process."""
    run_dir = tmp_path / "saved" / "r"
    run_dir.mkdir(parents=True)
    for name in ("last.pth", "best.pth", INVOCATION):
        (run_dir / name).write_bytes((one_epoch["run_dir"] / name).read_bytes())
    invocation = json.loads((run_dir / INVOCATION).read_text())
    invocation["overrides"]["n_layers"] = 2  # as if the run had been started with other settings than recorded
    (run_dir / INVOCATION).write_text(json.dumps(invocation))
    result = subprocess.run([sys.executable, "-m", "recbole_hybrid", "run", f"--resume={run_dir}"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"recbole-hybrid run: error: run folder {run_dir} was made with other "
                                    f"settings (n_layers 1 -> 2)")
    assert result.stderr.count("\n") == 1
    assert isinstance(RunMismatchError("x"), UsageError)


def test_a_record_older_than_graph_table_propagated_a_table_of_its_own():
    """A shared-graph run differs from an older record without the key (a separate table, as every hybrid had):
    the analysis must not pair HybridDiscrete-shared with the separate-table no-graph control as if only
    gnn_layers differed."""
    from recbole_hybrid.utils.fingerprint import differences

    old = {"model": "HybridDiscrete", "gnn_layers": 0, "train_mode": "sequence"}
    assert differences(old, {**old, "gnn_layers": 2, "graph_table": "shared"}) == {
        "gnn_layers": (0, 2), "graph_table": ("separate", "shared")}
    assert differences(old, {**old, "graph_table": "separate"}) == {}
