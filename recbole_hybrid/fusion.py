"""The fusion module shared by every hybrid: a LightGCN item table ``G`` and the length-adaptive mix with ``E``."""

from __future__ import annotations

import torch
from torch import nn

from recbole_hybrid.graph import build_item_graph, to_torch_sparse


class LengthAdaptiveFusion(nn.Module):
    """``x_t = a(L) * E[i_t] + (1 - a(L)) * G[i_t]`` with ``G = Linear(mean_{k=0..K} A_hat^k E_g)``.

    Args:
        config: RecBole ``Config``; reads ``hidden_size``, ``gnn_layers``, ``graph_window``, ``graph_min_count``,
            ``graph_cache_dir``.
        dataset: the training split, from which the co-occurrence graph is built.
        alpha_policy: module mapping ``item_seq_len [B]`` to ``a(L) [B]``.
    """

    def __init__(self, config, dataset, alpha_policy: nn.Module) -> None:
        super().__init__()
        n_items = dataset.num(config["ITEM_ID_FIELD"])
        hidden_size = config["hidden_size"]
        self.gnn_layers = config["gnn_layers"]
        window, min_count = config["graph_window"], config["graph_min_count"]
        for key, value, least in (("gnn_layers", self.gnn_layers, 0), ("graph_window", window, 1),
                                  ("graph_min_count", min_count, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{key}={value} must be an integer >= {least}")
        adj = build_item_graph(dataset, window, min_count, config["graph_cache_dir"])
        self.register_buffer("adjacency", to_torch_sparse(adj), persistent=False)  # derived from the data
        self.graph_embedding = nn.Embedding(n_items, hidden_size, padding_idx=0)
        self.graph_projection = nn.Linear(hidden_size, hidden_size)
        self.alpha_policy = alpha_policy

    def graph_table(self) -> torch.Tensor:
        """``[n_items, H]`` graph item table ``G``: one sparse matmul per LightGCN layer, mean over layers 0..K."""
        layer = self.graph_embedding.weight
        total = layer
        for _ in range(self.gnn_layers):
            layer = torch.sparse.mm(self.adjacency, layer)
            total = total + layer
        return self.graph_projection(total / (self.gnn_layers + 1))

    def fuse(self, item_seq: torch.Tensor, alpha: torch.Tensor, id_table: torch.Tensor,
             graph: torch.Tensor) -> torch.Tensor:
        """``x [B, T, H] = a E[i] + (1 - a) G[i]`` for item ids ``item_seq [B, T]``, one weight ``alpha [B]`` per row."""
        a = alpha.view(-1, 1, 1)
        return a * id_table[item_seq] + (1 - a) * graph[item_seq]

    def forward(
        self, item_seq: torch.Tensor, item_seq_len: torch.Tensor, id_table: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fuse the input embeddings of a batch.

        Args:
            item_seq: ``[B, T]`` item ids, right-padded with 0.
            item_seq_len: ``[B]`` history lengths ``L``.
            id_table: ``[n_items, H]`` ID embedding table ``E``.

        Returns:
            ``x [B, T, H]`` fused inputs, ``alpha [B]`` the weights ``a(L)``, ``graph [n_items, H]`` the table ``G``.
        """
        graph = self.graph_table()
        alpha = self.alpha_policy(item_seq_len)
        return self.fuse(item_seq, alpha, id_table, graph), alpha, graph
