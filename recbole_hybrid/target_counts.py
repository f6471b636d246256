"""How popular each user's target item was in training, added to the ranks files saved before runs wrote it.

Runs save ``<split>_target_count`` in their ranks (``evaluation.evaluate``): the number of training-split
interactions with the user's target item, which the analysis groups users by (``analysis.popularity_groups``).
The target ids themselves are never saved: with the user ids they would be the dataset's held-out interactions.
For ranks saved before that, ``add_target_counts`` rebuilds each run's split from its recorded config and adds the
counts, after checking that the rebuilt split has the file's users and history lengths:

    recbole-hybrid experiments target-counts RECORD.json [RECORD.json ...] [--data_path=DIR]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from recbole_hybrid.config import config_from_saved
from recbole_hybrid.evaluation import SeenItems
from recbole_hybrid.records import load_ranks, write_ranks
from recbole_hybrid.runner import load_data
from recbole_hybrid.runs import AnalysisError, load_run, protocol_signature

SPLITS = ("valid", "test")


def split_target_counts(config) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split of ``config``'s dataset: ``(history length [n_users], target count [n_users])`` by internal user
    id; a user without a row in the split has count -1."""
    _, train_data, valid_data, test_data = load_data(config)
    seen = {"valid": SeenItems.from_datasets([train_data.dataset], valid_data._dataset),
            "test": SeenItems.from_datasets([train_data.dataset, valid_data._dataset], test_data._dataset)}
    counts = seen["valid"].item_counts(valid_data._dataset.item_num)  # the training split's, as evaluate() uses
    out = {}
    for split, loader in (("valid", valid_data), ("test", test_data)):
        dataset = loader._dataset
        feat = dataset.inter_feat
        by_user = np.full(dataset.user_num, -1, dtype=np.int64)
        by_user[feat[dataset.uid_field].numpy()] = counts[feat[dataset.iid_field].numpy()]
        out[split] = (seen[split].length, by_user)
    return out


def add_target_counts(records: list[str | Path], data_path: str | Path | None = None,
                      log: Callable[[str], None] = print) -> list[Path]:
    """Add ``<split>_target_count`` to the ranks file of each run record that lacks it; the ranks files changed.

    Runs of one protocol share one rebuilt dataset. ``data_path`` (the folder holding ``<dataset>/``) replaces the
    recorded one. ``AnalysisError`` names a record whose users or history lengths differ from the rebuilt split;
    no file is changed before every record has been checked.
    """
    cache: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    updates: list[tuple[Path, dict[str, np.ndarray]]] = []
    for record in map(Path, records):
        run = load_run(record)
        ranks_path = record.with_name(run.record.get("ranks_file") or f"{record.stem}.ranks.npz")
        splits = [s for s in SPLITS if f"{s}_user_id" in run.ranks]
        if all(f"{s}_target_count" in run.ranks for s in splits):
            log(f"{ranks_path.name}: has its target counts")
            continue
        key = json.dumps([protocol_signature(run), str(data_path)], sort_keys=True)
        if key not in cache:
            log(f"rebuilding the split of {run.run_id} ({run.record['dataset']})")
            cache[key] = split_target_counts(config_from_saved(run.record["config"], data_path))
        arrays = load_ranks(ranks_path)
        for split in splits:
            users, lengths = arrays[f"{split}_user_id"], arrays[f"{split}_history_length"]
            length_by_user, count_by_user = cache[key][split]
            if users.max(initial=-1) >= len(count_by_user) or (count_by_user[users] < 0).any() \
                    or not np.array_equal(length_by_user[users], lengths):
                raise AnalysisError(f"{ranks_path}: its {split} users or history lengths differ from the split "
                                    f"rebuilt from its record's config: not this dataset (another data_path?)")
            arrays[f"{split}_target_count"] = count_by_user[users]
        updates.append((ranks_path, arrays))
    for ranks_path, arrays in updates:
        write_ranks(ranks_path, arrays)
        log(f"{ranks_path.name}: target counts added")
    return [path for path, _ in updates]
