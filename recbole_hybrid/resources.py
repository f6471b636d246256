"""Files that ship inside the package, found with ``importlib.resources`` (never through the source tree).

``recbole_hybrid/properties/`` holds the plugin's RecBole property files: ``overall.yaml``, ``model/<Class>.yaml``
and ``dataset/<dataset>.yaml``. They are package data, so a non-editable ``pip install .`` has them too. The
package must be installed as files (not zipped): RecBole opens property files by path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "recbole_hybrid"


def properties_dir() -> Path:
    """The folder of the shipped property files."""
    return Path(str(resources.files(PACKAGE) / "properties"))


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
