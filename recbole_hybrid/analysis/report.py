"""``analyze``: the comparison's tables as CSV, its figures and ``README.md``, from the saved runs only.

Imports run one way: ``runs`` (loading, checks) <- ``tables`` <- ``plots`` (figures) <- ``findings`` (sentences)
<- ``page`` (the README) <- ``summary`` (the short block for another markdown file) <- this module. Numbers from
the literature come only from ``anchors.ANCHORS``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from recbole_hybrid.analysis import tables as analysis
from recbole_hybrid.analysis.tables import GRAPH_GROUPS, POPULARITY_GROUPS
from recbole_hybrid.analysis.runs import AnalysisError, Run, load_runs
from recbole_hybrid.analysis.findings import CAPS_FIGURE, findings
from recbole_hybrid.analysis.page import readme
from recbole_hybrid.analysis.summary import block_span, summary, summary_markers, write_summary


def analyze(dataset: str, preset: str, runs_dir: str | Path = "results/runs", out_dir: str | Path = "results",
            save: bool = False, command: list[str] | None = None, n_boot: int = 10_000,
            summary_into: str | Path | None = None, study: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Build the tables; print them, or with ``save`` write the CSVs, plots and ``README.md`` in ``out_dir``.

    ``summary_into`` (needs ``save``): a markdown file whose block between ``summary_markers(dataset, preset)``
    receives the short form of the results (``summary``), e.g. the project README. ``study`` (needs
    ``summary_into``): the tuning study's folder whose figure and best configurations follow that summary.
    """
    if study is not None and summary_into is None:
        raise AnalysisError("--study adds the study to the summary: add --summary_into")
    study_part: list[str] = []
    if study is not None:
        from recbole_hybrid.analysis.study import study_lines  # matplotlib only when writing

        study_part = study_lines(study, Path(summary_into).parent)  # refuse a study without its figure before any work
    if summary_into is not None:
        summary_into = Path(summary_into)
        if not save:
            raise AnalysisError("--summary_into writes a file: add --save_csv")
        block_span(summary_into.read_text() if summary_into.is_file() else None, summary_into,
                    summary_markers(dataset, preset))  # refuse before any work
    runs = load_runs(runs_dir, dataset, preset)
    tables = analysis.tables(runs, n_boot=n_boot)
    if not save:
        with pd.option_context("display.width", 200, "display.max_columns", 14):
            for name, table in tables.items():
                print(f"== {name}\n{table}\n")
        print("\n".join(findings(runs, tables)))
        return tables
    command = command or ["python -m recbole_hybrid experiments analyze", f"--dataset={dataset}",
                          f"--preset={preset}", "--save_csv"]
    write_report(runs, tables, Path(runs_dir), Path(out_dir), command)
    if summary_into is not None:
        write_summary(summary_into, summary_markers(dataset, preset),
                      summary(runs, tables, Path(out_dir), summary_into.parent, command) + study_part)
    return tables


def write_report(runs: list[Run], tables: dict[str, pd.DataFrame], runs_dir: Path, out_dir: Path,
                 command: list[str]) -> Path:
    """Write every non-empty table as ``<name>.csv``, the figures and ``README.md``; return the README's path."""
    from recbole_hybrid.analysis import plots  # matplotlib only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [name for name, table in tables.items() if not table.empty]
    for name in written:
        tables[name].to_csv(out_dir / f"{name}.csv", index=False, float_format="%.6g")
    images = [plots.learning_curves(runs, out_dir / "learning_curves.png"),
              plots.length_group_bars(tables["length_groups"], out_dir / "length_groups.png"),
              plots.group_diffs(tables["length_groups"], out_dir / "length_group_diffs.png")]
    if not tables["popularity_groups"].empty:
        images.append(plots.group_diffs(tables["popularity_groups"], out_dir / "popularity_group_diffs.png",
                                        order=POPULARITY_GROUPS, range_column="count_range",
                                        by="the test target's popularity"))
    if not tables["graph_groups"].empty:
        images.append(plots.group_diffs(tables["graph_groups"], out_dir / "graph_group_diffs.png",
                                        order=GRAPH_GROUPS, range_column="target_range",
                                        by="whether the test target has an edge in the item graph"))
    if not tables["alpha_curves"].empty:
        images.append(plots.alpha_curves(tables["alpha_curves"], out_dir / "alpha_curves.png"))
    if not tables["history_caps"].empty:
        images.append(plots.history_caps(tables["history_caps"], out_dir / CAPS_FIGURE))
    path = out_dir / "README.md"
    path.write_text(readme(runs, tables, runs_dir, out_dir, [p.name for p in images], command))
    print(f"wrote {', '.join(f'{n}.csv' for n in written)}, {len(images)} plots and README.md to {out_dir} "
          f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    return path
