"""Top-k recommendations from a saved model alone, for the item after each user's last known interaction.

The command is ``recbole-hybrid recommend`` (``recbole_hybrid/cli/recommend.py``). The checkpoint's plain config
rebuilds the dataset (id maps and, for the hybrids, the co-occurrence graph of the training split); nothing is
trained. Each user's input is the last ``MAX_ITEM_LIST_LENGTH`` items of their whole history in time order
(validation and test items included), so the model predicts what comes after the test item.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from recbole.data import create_dataset
from recbole.data.interaction import Interaction

from recbole_hybrid.utils.compat import init_seed
from recbole_hybrid.config import config_from_saved, resolve_model
from recbole_hybrid.utils.errors import UsageError
from recbole_hybrid.model.fast_layers import fuse_layers
from recbole_hybrid.utils.records import load_checkpoint

warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\..*")


class UnknownUsersError(UsageError):
    """Users that the model's dataset does not hold; ``users`` lists their tokens."""

    def __init__(self, users: list[str], dataset: str) -> None:
        super().__init__(f"unknown user(s) {', '.join(users)}: not in dataset {dataset!r} as the model saw it "
                         f"(after its filters)")
        self.users = users


class Recommender:
    """A trained model with its dataset's id maps and every user's history, ready to rank items.

    Args:
        checkpoint: a ``best.pth`` (or ``last.pth``) written by ``run.py``.
        device: where to score; the CPU unless given.
    """

    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        saved = load_checkpoint(checkpoint, map_location="cpu")
        plain = saved["config"]
        self.config = config_from_saved(plain, use_gpu=torch.device(device).type == "cuda")
        init_seed(self.config["seed"], self.config["reproducibility"])
        self.dataset = create_dataset(self.config)
        self.uid_field, self.iid_field = self.dataset.uid_field, self.dataset.iid_field
        self.histories = self._histories()  # before build(): it reorders inter_feat in place
        train = self.dataset.build()[0]
        self.model = resolve_model(plain["model"])(self.config, train).to(device)
        self.model.load_state_dict(saved["state_dict"])
        if self.config["fused_layers"]:  # the same scores in fewer kernels (a checkpoint older than the key: too)
            fuse_layers(self.model)
        self.model.eval()
        self.device = device
        self.titles = item_titles(self.config)

    def _histories(self) -> dict[int, np.ndarray]:
        """Internal user id -> that user's internal item ids in time order (ties in file order, as RecBole)."""
        feat = self.dataset.inter_feat
        users, items = np.asarray(feat[self.uid_field]), np.asarray(feat[self.iid_field])
        time_field = self.config["TIME_FIELD"]
        order = np.lexsort((np.arange(len(users)), np.asarray(feat[time_field]), users)) \
            if time_field in feat.columns else np.argsort(users, kind="stable")
        users, items = users[order], items[order]
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        return {int(users[s]): items[s:e] for s, e in zip(starts, np.r_[starts[1:], len(users)])}

    def user_ids(self, tokens: list[str]) -> list[int]:
        """Internal ids of user tokens; ``UnknownUsersError`` naming every unknown one."""
        known = self.dataset.field2token_id[self.uid_field]
        unknown = [t for t in tokens if t not in known or known[t] not in self.histories]
        if unknown:
            raise UnknownUsersError(unknown, self.config["dataset"])
        return [known[t] for t in tokens]

    @torch.no_grad()
    def recommend(self, tokens: list[str], topk: int, exclude_seen: bool = False) -> list[dict[str, Any]]:
        """``topk`` items per user as rows ``{user_id, rank, item_id, score, title}`` (original tokens, rank from 1)."""
        if topk < 1:
            raise UsageError(f"topk={topk} must be >= 1")
        uids = self.user_ids(tokens)
        max_len = self.config["MAX_ITEM_LIST_LENGTH"]
        seqs = torch.zeros(len(uids), max_len, dtype=torch.long)
        lengths = torch.zeros(len(uids), dtype=torch.long)
        for row, uid in enumerate(uids):
            recent = torch.from_numpy(self.histories[uid][-max_len:].astype(np.int64))
            seqs[row, :len(recent)] = recent
            lengths[row] = len(recent)
        batch = Interaction({self.model.ITEM_SEQ: seqs, self.model.ITEM_SEQ_LEN: lengths}).to(self.device)
        scores = self.model.full_sort_predict(batch).cpu()  # [B, n_items]
        scores[:, 0] = -torch.inf  # padding id
        if exclude_seen:
            for row, uid in enumerate(uids):
                scores[row, torch.from_numpy(self.histories[uid].astype(np.int64))] = -torch.inf
        k = min(topk, int(torch.isfinite(scores).sum(1).min()))
        top_scores, top_items = scores.topk(k, dim=1)
        item_tokens = self.dataset.field2id_token[self.iid_field]
        return [{"user_id": token, "rank": rank + 1, "item_id": str(item_tokens[item]), "score": float(score),
                 "title": self.titles.get(str(item_tokens[item]), "")}
                for token, items, row_scores in zip(tokens, top_items.tolist(), top_scores.tolist())
                for rank, (item, score) in enumerate(zip(items, row_scores))]


def item_titles(config) -> dict[str, str]:
    """Item token -> title from ``<dataset>.item`` when it has a title-like field (``movie_title``), else ``{}``."""
    path = Path(config["data_path"]) / f"{config['dataset']}.item"
    if not path.is_file():
        return {}
    encoding = config["encoding"] or "utf-8"
    table = pd.read_csv(path, sep=config["field_separator"] or "\t", dtype=str, encoding=encoding,
                        quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False)
    names = {column.split(":")[0]: column for column in table.columns}
    title = next((names[n] for n in names if "title" in n.lower() or n.lower() == "name"), None)
    item = names.get(config["ITEM_ID_FIELD"])
    if title is None or item is None:
        return {}
    return dict(zip(table[item], table[title]))
