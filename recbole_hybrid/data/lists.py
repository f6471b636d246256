"""Freeing the list fields that no model of this project reads, after RecBole has built and split the dataset.

RecBole's sequential dataset turns every interaction field into a ``<field>_list`` of ``[rows, MAX_ITEM_LIST_LENGTH]``
(``item_id_list``, and for ML-1M ``rating_list`` and ``timestamp_list``), once in the dataset it builds and again in
each split. SASRec and the hybrids read only the item list and its length; the dataset before the split is read only
for its counts. The unread lists are the largest tensors of a run's data (its set-up memory on ML-1M:
``results/benchmarks/peak_memory-ml-1m.json``).
"""

from __future__ import annotations

from typing import Any


def drop_unread_lists(dataset: Any, splits: list | tuple) -> int:
    """Delete, in place, the list fields that SASRec and the hybrids never read; returns the bytes freed.

    Call it for those models only (``trainer.positions.supports_sequence_mode``): any other RecBole model may read
    other feature lists.

    Args:
        dataset: RecBole's dataset before the split; every list field goes (its counts stay).
        splits: the train / valid / test ``DataLoader``s; each keeps the item list (``item_id_list``).
    """
    suffix = dataset.config["LIST_SUFFIX"]
    item_list = dataset.iid_field + suffix
    freed = _drop(dataset.inter_feat, lambda field: field.endswith(suffix))
    for loader in splits:
        freed += _drop(loader.dataset.inter_feat, lambda field: field.endswith(suffix) and field != item_list)
    return freed


def _drop(inter_feat: Any, unread) -> int:
    interaction = inter_feat.interaction
    fields = [field for field in interaction if unread(field)]
    freed = sum(interaction[field].element_size() * interaction[field].nelement() for field in fields)
    for field in fields:
        del interaction[field]
    return freed
