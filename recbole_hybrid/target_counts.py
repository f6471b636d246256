"""How popular each user's target item was in training, and whether it has an edge in the item graph, added to
the ranks files saved before runs wrote them.

Runs save ``<split>_target_count`` in their ranks (``evaluation.evaluate``): the number of training-split
interactions with the user's target item, which the analysis groups users by (``analysis.popularity_groups``); and
``<split>_target_degree``: the target's number of edges in the hybrids' default item graph
(``graph.default_item_degrees``; ``analysis.graph_groups``). The target ids themselves are never saved: with the
user ids they would be the dataset's held-out interactions. For ranks saved before that, ``add_target_counts``
rebuilds each run's split from its recorded config and adds the missing arrays, after checking that the rebuilt
split has the file's users and history lengths:

    recbole-hybrid experiments target-counts RECORD.json [RECORD.json ...] [--data_path=DIR]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from recbole_hybrid.config import config_from_saved
from recbole_hybrid.evaluation import SeenItems
from recbole_hybrid.graph import default_item_degrees
from recbole_hybrid.records import load_ranks, write_ranks
from recbole_hybrid.runner import load_data
from recbole_hybrid.runs import AnalysisError, load_run, protocol_signature

SPLITS = ("valid", "test")
#: The per-user target arrays this module adds: ``<split>_<key>``.
TARGET_KEYS = ("target_count", "target_degree")


def split_target_counts(config) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per split of ``config``'s dataset: ``(history length [n_users], {"target_count": [n_users],
    "target_degree": [n_users]})`` by internal user id; a user without a row in the split has -1 in both."""
    _, train_data, valid_data, test_data = load_data(config)
    seen = {"valid": SeenItems.from_datasets([train_data.dataset], valid_data._dataset),
            "test": SeenItems.from_datasets([train_data.dataset, valid_data._dataset], test_data._dataset)}
    per_item = {"target_count": seen["valid"].item_counts(valid_data._dataset.item_num),  # as the trainer passes
                "target_degree": default_item_degrees(train_data.dataset)}
    out = {}
    for split, loader in (("valid", valid_data), ("test", test_data)):
        dataset = loader._dataset
        feat = dataset.inter_feat
        users, targets = feat[dataset.uid_field].numpy(), feat[dataset.iid_field].numpy()
        by_user = {}
        for key, values in per_item.items():
            by_user[key] = np.full(dataset.user_num, -1, dtype=np.int64)
            by_user[key][users] = values[targets]
        out[split] = (seen[split].length, by_user)
    return out


def add_target_counts(records: list[str | Path], data_path: str | Path | None = None,
                      log: Callable[[str], None] = print) -> list[Path]:
    """Add ``<split>_target_count`` and ``<split>_target_degree`` to the ranks file of each run record that lacks
    them; the ranks files changed.

    Runs of one protocol share one rebuilt dataset. ``data_path`` (the folder holding ``<dataset>/``) replaces the
    recorded one. ``AnalysisError`` names a record whose users, history lengths or target counts already saved
    differ from the rebuilt split; no file is changed before every record has been checked.
    """
    cache: dict[str, dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
    updates: list[tuple[Path, dict[str, np.ndarray]]] = []
    for record in map(Path, records):
        run = load_run(record)
        ranks_path = record.with_name(run.record.get("ranks_file") or f"{record.stem}.ranks.npz")
        splits = [s for s in SPLITS if f"{s}_user_id" in run.ranks]
        if all(f"{s}_{key}" in run.ranks for s in splits for key in TARGET_KEYS):
            log(f"{ranks_path.name}: has its target counts and degrees")
            continue
        key = json.dumps([protocol_signature(run), str(data_path)], sort_keys=True)
        if key not in cache:
            log(f"rebuilding the split of {run.run_id} ({run.record['dataset']})")
            cache[key] = split_target_counts(config_from_saved(run.record["config"], data_path))
        arrays = load_ranks(ranks_path)
        for split in splits:
            users, lengths = arrays[f"{split}_user_id"], arrays[f"{split}_history_length"]
            length_by_user, by_user = cache[key][split]
            counts = by_user["target_count"]
            if users.max(initial=-1) >= len(counts) or (counts[users] < 0).any() \
                    or not np.array_equal(length_by_user[users], lengths):
                raise AnalysisError(f"{ranks_path}: its {split} users or history lengths differ from the split "
                                    f"rebuilt from its record's config: not this dataset (another data_path?)")
            for name in TARGET_KEYS:
                rebuilt = by_user[name][users]
                if f"{split}_{name}" in arrays and not np.array_equal(arrays[f"{split}_{name}"], rebuilt):
                    raise AnalysisError(f"{ranks_path}: its {split}_{name} differs from the one of the split rebuilt "
                                        f"from its record's config: not this dataset (another data_path?)")
                arrays[f"{split}_{name}"] = rebuilt
        updates.append((ranks_path, arrays))
    for ranks_path, arrays in updates:
        write_ranks(ranks_path, arrays)
        log(f"{ranks_path.name}: target counts and degrees added")
    return [path for path, _ in updates]
