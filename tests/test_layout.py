"""The floor plan's rules, read from the package's own files: one-way imports, no loop, light analysis, no path
into the checkout.

The import graph takes every ``import`` statement of every module, at module level and inside functions (the lazy
ones), and every string constant that names a module of the package (``cli.main.COMMANDS``' ``module:function``
targets); ``plugin`` names the model modules it imports by name (``MODEL_MODULES``), added as its edges.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE_DIR = PROJECT_ROOT / "recbole_hybrid"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    if level == 0:
        return module
    base = current.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def _targets(name: str, shortest: int = 1) -> set[str]:
    """The package's modules that ``name`` (a dotted name, maybe ``module:function`` or ``module.attribute``)
    stands for: the longest known prefix of at least ``shortest`` parts."""
    name = name.split(":")[0]
    parts = name.split(".")
    for end in range(len(parts), shortest - 1, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return {candidate}
    return set()


def import_edges() -> dict[str, set[str]]:
    """module -> the package's modules it imports, statically or lazily."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        out: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out |= _targets(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", node.level, name, path.name == "__init__.py")
                for alias in node.names:  # ``from recbole_hybrid.model import graph`` imports the module graph
                    out |= _targets(f"{base}.{alias.name}") or _targets(base)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and node.value.startswith("recbole_hybrid.") and " " not in node.value:
                out |= _targets(node.value, shortest=2)  # a bare "recbole_hybrid" names the package
        edges[name] = out - {name}
    from recbole_hybrid import plugin

    edges["recbole_hybrid.plugin"] |= set(plugin.MODEL_MODULES.values())
    return edges


EDGES = import_edges()


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_every_module_and_the_lazy_imports():
    assert {"recbole_hybrid.model.sequential_recommender.hybriddiscrete", "recbole_hybrid.cli.main",
            "recbole_hybrid.analysis.report"} <= set(MODULES)
    assert "recbole_hybrid.cli.experiments" in EDGES["recbole_hybrid.cli.main"]  # a string target
    assert "recbole_hybrid.analysis.plots" in EDGES["recbole_hybrid.analysis.report"]  # inside a function
    assert "recbole_hybrid.model.sequential_recommender.hybriddiscrete" in EDGES["recbole_hybrid.plugin"]


def test_the_import_graph_has_no_loop():
    assert _cycle(EDGES) is None, " -> ".join(_cycle(EDGES))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check itself finds one


def test_nothing_below_the_face_imports_the_face():
    importers = sorted(m for m, out in EDGES.items() if "recbole_hybrid" in out and m != "recbole_hybrid.__main__")
    assert importers == []


def test_nothing_imports_cli_but_cli_and_the_entry_points():
    importers = sorted(m for m, out in EDGES.items() if any(t.startswith("recbole_hybrid.cli") for t in out)
                       and not m.startswith("recbole_hybrid.cli") and m != "recbole_hybrid.__main__")
    assert importers == []


def test_evaluation_imports_no_model_class():
    assert not {m for m in EDGES["recbole_hybrid.evaluation"] if m.startswith("recbole_hybrid.model.sequential")}
    source = MODULES["recbole_hybrid.evaluation"].read_text(encoding="utf-8")
    assert "recbole.model" not in source.replace('"recbole.model.sequential_recommender.sasrec"', "")


def test_only_tuning_imports_ray():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        roots |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if "ray" in roots:
            assert name.startswith("recbole_hybrid.tuning"), name


def test_the_package_never_defaults_a_path_into_the_checkout():
    """Paths inside the source tree come from ``importlib.resources`` (``utils.resources``), never ``__file__``."""
    own_file = re.compile(r"(?<![\w.])__file__")  # a module's own file; ``recbole.__file__`` is RecBole's
    users = sorted(name for name, path in MODULES.items() if own_file.search(path.read_text(encoding="utf-8")))
    assert users == []


def test_the_analysis_imports_no_torch_recbole_or_model():
    """A reader of committed records needs pandas, not torch (``recbole_hybrid.analysis`` and all it imports)."""
    analysis = sorted(m for m in MODULES if m.startswith("recbole_hybrid.analysis") and not m.endswith("plots"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in analysis) +
            "heavy = [m for m in ('torch', 'recbole', 'ray') if m in sys.modules]\n"
            "heavy += sorted(m for m in sys.modules if m.startswith('recbole_hybrid.model'))\nprint(heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["HybridDiscrete", "HybridResidual"])
def test_recbole_finds_a_model_in_a_fresh_process_from_the_face_alone(name):
    """``import recbole_hybrid`` loads no model; RecBole's ``get_model`` and ``Config`` then load and read it."""
    code = ("import sys, os, recbole_hybrid\n"
            "assert 'torch' not in sys.modules, 'the face imported torch'\n"
            "from recbole.utils import get_model\n"
            "from recbole.config import Config\n"
            f"cls = get_model({name!r})\n"
            "sys.argv = sys.argv[:1]\n"
            f"config = Config(model={name!r}, dataset='ml-100k')\n"
            f"assert cls is getattr(recbole_hybrid, {name!r}), cls\n"
            "print(cls.__module__, config['graph_window'], config['L_short'])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [f"recbole_hybrid.model.sequential_recommender.{name.lower()}", "3", "10"]


def test_each_model_file_is_named_as_recbole_looks_it_up():
    from recbole_hybrid import plugin

    for name, module in plugin.MODEL_MODULES.items():
        assert module == f"recbole_hybrid.model.sequential_recommender.{name.lower()}"
        assert module in MODULES


def test_a_checkout_on_the_path_without_the_install_reads_its_own_properties(tmp_path):
    """A Ray worker imports the package from the shipped working dir, where ``properties/`` is not mapped."""
    code = ("import sys\n"
            "sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            f"sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
            "from recbole_hybrid.utils.resources import properties_dir\n"
            "import recbole_hybrid\n"
            "print(recbole_hybrid.__file__, properties_dir())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    package, properties = done.stdout.split()
    assert Path(package) == PACKAGE_DIR / "__init__.py"
    assert Path(properties) == PROJECT_ROOT / "properties"
