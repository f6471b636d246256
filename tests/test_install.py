"""A non-editable ``pip install .`` into a fresh virtual environment gives a working package, run from elsewhere.

The package is built from a copy of what a source distribution holds (``pyproject.toml``, ``README.md`` and
``recbole_hybrid/``) and installed offline (``--no-index --no-deps --no-build-isolation``) into a new venv that sees
this environment's packages (torch, RecBole, setuptools, ...) through a ``.pth`` line, so nothing is downloaded.
Every check then runs in another folder with a clean ``PYTHONPATH``: only the installed copy can answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [
    pytest.mark.install,
    pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="building needs setuptools"),
]

PACKAGE = PROJECT_ROOT / "recbole_hybrid"
#: The top-level property files, shipped as the package ``recbole_hybrid.properties`` (pyproject's package-dir).
PROPERTIES = PROJECT_ROOT / "properties"


def site_dirs() -> list[str]:
    """This interpreter's package folders (the venv's, and the system's when the venv sees them)."""
    return [p for p in sys.path if Path(p).is_dir() and Path(p).name in ("site-packages", "dist-packages")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(PACKAGE, src / "recbole_hybrid", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(PROPERTIES, src / "properties", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, src / name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "_test_deps.pth").write_text("\n".join(site_dirs()) + "\n")  # appended after the venv's own
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    build = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                            "--disable-pip-version-check", "-q", str(src)],
                           cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    work = root / "elsewhere"
    work.mkdir()
    return {"python": python, "bin": venv / "bin", "purelib": Path(purelib), "cwd": work, "env": env}


def run(installed: dict, *argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=installed["cwd"], env=installed["env"], capture_output=True,
                          text=True, timeout=timeout)


def test_every_package_file_is_installed(installed):
    wanted = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml")}
    wanted |= {Path("properties") / p.relative_to(PROPERTIES) for p in PROPERTIES.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml")}
    target = installed["purelib"] / "recbole_hybrid"
    present = {p.relative_to(target) for p in target.rglob("*") if p.is_file()}
    assert wanted - present == set()
    assert Path("properties/overall.yaml") in wanted and Path("properties/model/HybridDiscrete.yaml") in wanted


def test_the_installed_package_builds_a_config_outside_the_source_tree(installed):
    code = """
import json, recbole_hybrid
from recbole_hybrid.config import build_config
from recbole_hybrid.utils.records import versions
from recbole.utils import get_model
config = build_config("HybridDiscrete", "ml-100k", [], {"epochs": 1, "use_gpu": False})
print(json.dumps({"file": recbole_hybrid.__file__, "alpha_short": config["alpha_short"],
                  "graph_window": config["graph_window"], "L_long": config["L_long"],
                  "val_interval": config["val_interval"], "commit": versions()["git_commit"],
                  "registered": get_model("HybridDiscrete").__name__}))
"""
    done = run(installed, installed["python"], "-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(installed["purelib"]))  # the installed copy, not this checkout
    assert (out["alpha_short"], out["graph_window"], out["L_long"]) == (0.3, 3, 30)  # model and overall files
    assert out["val_interval"] == {"rating": "[4,inf)"}  # the plugin's dataset file
    assert out["commit"] is None and out["registered"] == "HybridDiscrete"


def test_the_console_script_runs(installed):
    script = installed["bin"] / "recbole-hybrid"
    assert script.is_file()
    done = run(installed, script, "run", "--help")
    assert done.returncode == 0 and "usage: recbole-hybrid run" in done.stdout and "--resume RUN_DIR" in done.stdout
    done = run(installed, script, "run", "--model=Nope")
    assert done.returncode == 2 and done.stderr.startswith("recbole-hybrid run: error: unknown model 'Nope'")
    assert done.stderr.count("\n") == 1
    done = run(installed, script, "data", "check", "--dataset=ml-100k", "--expect_users=938")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "938 users, 1447 items" in done.stdout  # the plugin's ml-100k filters, read from the installed files
