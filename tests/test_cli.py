"""One command-line convention: ``recbole-hybrid COMMAND``, argparse help everywhere, one ``--key=value`` reader."""

from __future__ import annotations

import importlib.util

import pytest

from recbole_hybrid.cli.main import COMMANDS, main
from recbole_hybrid.utils.errors import ConfigError, UsageError
from recbole_hybrid.utils.flags import read_settings


def has_tune_command() -> bool:
    try:
        return importlib.util.find_spec("recbole_hybrid.tuning.search") is not None
    except ModuleNotFoundError:  # recbole_hybrid.tuning is not a package (yet)
        return False


HELP = [["run"], ["experiments"], ["experiments", "paper"], ["experiments", "analyze"], ["data"], ["data", "check"],
        ["data", "prepare"], ["recommend"], ["demo"]]


@pytest.mark.parametrize("command", HELP, ids=" ".join)
def test_every_command_has_argparse_help(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: recbole-hybrid {' '.join(command)}") and "-h, --help" in out


@pytest.mark.skipif(not has_tune_command(), reason="recbole_hybrid.tuning.search not in this tree")
def test_tune_goes_through_the_same_entry(capsys):
    assert main(["tune", "--help"]) == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_the_entry_lists_its_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in COMMANDS)
    assert main([]) == 2 and "required: COMMAND" in capsys.readouterr().err
    assert main(["trian"]) == 2 and "invalid choice: 'trian'" in capsys.readouterr().err


def test_settings_are_read_one_way():
    files, settings = read_settings(["--lr=5e-4", "--d_model=64", "--topk=[5,10]", "--use_gpu=False",
                                     "--loss_type=CE", "--config_files=a.yaml,b.yaml", "--config_files=c.yaml",
                                     "--filter_seen=true", "--eval_args={'order': 'TO'}"])
    assert files == ["a.yaml", "b.yaml", "c.yaml"]
    assert settings == {"learning_rate": 5e-4, "hidden_size": 64, "topk": [5, 10], "use_gpu": False,
                        "loss_type": "CE", "filter_seen": True, "eval_args": {"order": "TO"}}
    for bad in ("--epochs", "epochs=3", "-e=3", "--=3"):
        with pytest.raises(UsageError, match=rf"cannot read argument '{bad}': write settings as --key=value"):
            read_settings([bad])


def test_options_are_matched_by_their_full_name_only(capsys):
    # --mod is neither --model nor a prefix of it: a RecBole setting named 'mod' (and then an unknown model check)
    assert main(["run", "--model=Nope", "--mod=1"]) == 2
    assert "unknown model 'Nope'" in capsys.readouterr().err


def test_user_mistakes_are_one_line_and_bugs_keep_their_traceback(capsys):
    from recbole_hybrid.cli.main import run_command

    def mistake(argv):
        raise ConfigError("epochs=0 must be an integer >= 1")

    assert run_command("run", mistake, []) == 2
    assert capsys.readouterr().err == "recbole-hybrid run: error: epochs=0 must be an integer >= 1\n"

    def bug(argv):
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run_command("run", bug, [])
