"""Files that ship inside the package, found with ``importlib.resources`` (never through the source tree).

The top-level ``properties/`` folder of the checkout holds the plugin's RecBole property files: ``overall.yaml``,
``model/<Class>.yaml``, ``dataset/<dataset>.yaml`` and ``tuned/<Class>-<dataset>.yaml`` (a tuning study's result,
``tuned_property_file``). ``pyproject.toml`` ships it as the package
``recbole_hybrid.properties`` (a ``package-dir`` mapping), so a non-editable ``pip install .`` has them too. The
package must be installed as files (not zipped): RecBole opens property files by path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

PACKAGE = "recbole_hybrid"
PROPERTIES = "recbole_hybrid.properties"


def properties_dir() -> Path:
    """The folder of the shipped property files.

    Asked of the mapped package itself: in an editable install ``files("recbole_hybrid") / "properties"`` is not the
    top-level folder the mapping points to.
    """
    try:
        return Path(str(resources.files(PROPERTIES)))
    except ModuleNotFoundError:
        # The package imported from a checkout that is not installed (a Ray worker's shipped working_dir, a
        # PYTHONPATH): the mapping is the installer's, so read the checkout's own top-level folder.
        checkout = source_root()
        if checkout is None or not (checkout / "properties" / "overall.yaml").is_file():
            raise
        return checkout / "properties"


def plugin_property_files(model_cls: type, dataset: str) -> list[Path]:
    """The plugin's property files for a model and dataset, lowest priority first.

    ``overall.yaml``, then the model's file and its base classes' (``HybridSASRec.yaml`` before
    ``HybridDiscrete.yaml``), then the dataset's; files that do not exist are left out.
    """
    folder = properties_dir()
    files = [folder / "overall.yaml"]
    files += [folder / "model" / f"{cls.__name__}.yaml" for cls in reversed(model_cls.__mro__)]
    files.append(folder / "dataset" / f"{dataset}.yaml")
    return [f for f in files if f.is_file()]


def tuned_property_file(model_cls: type, dataset: str) -> Path | None:
    """``properties/tuned/<Class>-<dataset>.yaml``: the model's tuned recipe on ``dataset`` from a tuning study (a
    copy of ``configs/tuned/<Class>-<dataset>.yaml``), or None where no study has tuned it."""
    path = properties_dir() / "tuned" / f"{model_cls.__name__}-{dataset}.yaml"
    return path if path.is_file() else None


def source_root() -> Path | None:
    """The repository checkout this package is imported from (editable install or ``python -m``), else ``None``.

    A checkout is recognised by the ``pyproject.toml`` of recbole-hybrid beside the package folder; an installed
    copy in ``site-packages`` has none (even when the virtual environment lies inside a checkout).
    """
    package_dir = Path(str(resources.files(PACKAGE)))
    pyproject = package_dir.parent / "pyproject.toml"
    try:
        if 'name = "recbole-hybrid"' in pyproject.read_text(encoding="utf-8"):
            return package_dir.parent
    except OSError:
        pass
    return None


def default_graph_settings() -> tuple[int, int]:
    """``(graph_window, graph_min_count)`` as shipped in ``properties/model/HybridSASRec.yaml``, the hybrids'
    default graph."""
    values = yaml.safe_load((properties_dir() / "model" / "HybridSASRec.yaml").read_text(encoding="utf-8"))
    return int(values["graph_window"]), int(values["graph_min_count"])
