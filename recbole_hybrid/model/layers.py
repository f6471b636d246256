"""The layers every hybrid shares: the length policies ``a(L)`` and the fusion module (RecBole-GNN keeps its
shared ``nn.Module`` s in one ``layers.py`` as well).

The fusion module (``LengthAdaptiveFusion``) holds a LightGCN item table ``G`` and fuses it with the ID table
``E`` by ``a(L)``. The policy is the only thing that differs between the hybrid variants. Each policy maps the
history length ``L`` of every sequence in a batch (``[B]`` long) to the weight ``a(L)`` of the ID embedding in the
fusion (``[B]`` float in ``[0, 1]``). Each checks its own hyper-parameters and raises a ``ValueError`` that names
the offending key.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recbole_hybrid.data.lengths import bin_index
from recbole_hybrid.model.graph import build_item_graph, to_torch_sparse


def _check_unit_interval(name: str, value: float, open_interval: bool = False) -> float:
    value = float(value)
    lo_ok = value > 0 if open_interval else value >= 0
    hi_ok = value < 1 if open_interval else value <= 1
    if not (lo_ok and hi_ok):
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name}={value} is outside {interval}")
    return value


def check_length_bins(L_short: int, L_long: int, max_seq_length: int) -> None:
    """Refuse bin edges that RecBole's cap on ``item_length`` would make unreachable or wrong.

    ``item_length`` is ``min(L, MAX_ITEM_LIST_LENGTH)``. The long bin ``L > L_long`` is reachable only when
    ``MAX_ITEM_LIST_LENGTH > L_long``; then every capped length still lands in its true bin.
    """
    if int(L_short) != L_short or int(L_long) != L_long:
        raise ValueError(f"L_short and L_long must be integers, got L_short={L_short}, L_long={L_long}")
    if L_short < 1:
        raise ValueError(f"L_short={L_short} must be >= 1: every sequence has L >= 1, so no bin would be short")
    if L_short >= L_long:
        raise ValueError(f"L_short={L_short} must be smaller than L_long={L_long}")
    if max_seq_length <= L_long:
        raise ValueError(
            f"MAX_ITEM_LIST_LENGTH={max_seq_length} <= L_long={L_long}: RecBole caps item_length at "
            f"MAX_ITEM_LIST_LENGTH, so no sequence could reach the long bin (L > L_long). "
            f"Raise MAX_ITEM_LIST_LENGTH or lower L_long."
        )


def length_bin(item_seq_len: torch.Tensor, L_short: int, L_long: int) -> torch.Tensor:
    """Bin index per sequence: 0 for ``L <= L_short``, 1 for ``L_short < L <= L_long``, 2 for ``L > L_long``.

    The rule is ``lengths.bin_index``, shared with the dataset check and the analysis's length groups.

    Args:
        item_seq_len: ``[B]`` long.
    Returns:
        ``[B]`` long in ``{0, 1, 2}``.
    """
    return bin_index(item_seq_len, L_short, L_long).long()


class FixedAlpha(nn.Module):
    """``a(L) = fixed_alpha`` for every sequence."""

    def __init__(self, config) -> None:
        super().__init__()
        self.alpha = _check_unit_interval("fixed_alpha", config["fixed_alpha"])

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        return torch.full(item_seq_len.shape, self.alpha, dtype=torch.float, device=item_seq_len.device)

    def alpha_slot(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B]`` zeros: every length has the same ``a`` (``trainer.positions.alpha_slots``)."""
        return torch.zeros_like(item_seq_len)


class BinnedAlpha(nn.Module):
    """``a(L) = alpha_bin`` for the length bin of ``L``; constants, or learned as ``sigmoid(p_bin)``.

    Learned weights start at ``p_bin = logit(alpha_bin)``, so training starts at the configured values.
    """

    def __init__(self, config, learnable: bool) -> None:
        super().__init__()
        self.L_short, self.L_long = config["L_short"], config["L_long"]
        check_length_bins(self.L_short, self.L_long, config["MAX_ITEM_LIST_LENGTH"])
        alphas = [
            _check_unit_interval(key, config[key], open_interval=learnable)
            for key in ("alpha_short", "alpha_mid", "alpha_long")
        ]
        self.learnable = learnable
        if learnable:
            self.logits = nn.Parameter(torch.tensor([math.log(a / (1 - a)) for a in alphas]))
        else:
            self.register_buffer("alphas", torch.tensor(alphas))

    def bin_alphas(self) -> torch.Tensor:
        """``[3]`` current ``a`` of the short, mid and long bins."""
        return torch.sigmoid(self.logits) if self.learnable else self.alphas

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        return self.bin_alphas()[length_bin(item_seq_len, self.L_short, self.L_long)]

    def alpha_slot(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B]`` the bin of each length: lengths of one bin share its ``a`` (``trainer.positions.alpha_slots``)."""
        return length_bin(item_seq_len, self.L_short, self.L_long)


#: Values of ``alpha_mlp_init``: how ``ContinuousAlpha`` starts its hidden layer (its output layer always starts at 0).
ALPHA_MLP_INITS = ("basis", "recbole")


class ContinuousAlpha(nn.Module):
    """``a(L) = sigmoid(MLP(log(1 + L)))``, a learned smooth function of the history length.

    The output layer starts at zero weight and bias ``logit(alpha_init)``, so ``a(L) = alpha_init`` for every ``L``
    when training starts. ``L`` is RecBole's capped ``item_length``: ``a`` is flat beyond ``MAX_ITEM_LIST_LENGTH``.

    ``alpha_mlp_init: basis`` starts the ``alpha_mlp_hidden`` tanh units as a basis over the lengths: unit ``j``
    is ``tanh((x - c_j) / s)`` with centres ``c_j`` evenly spaced over ``x = log(1 + L)``, ``L = 1..MAX_ITEM_LIST_LENGTH``,
    and ``s`` their spacing. Every output weight then moves ``a`` on its own stretch of lengths, so the policy can
    take a length shape as fast as one weight per bin takes its value. ``recbole``: the model's generic init
    (weights ``N(0, initializer_range)``, biases 0), under which the units are nearly linear with slope about 0
    on ``x <= 5.3`` and every unit starts with almost the same shape (the init before 2026-12-03).
    """

    def __init__(self, config) -> None:
        super().__init__()
        hidden = config["alpha_mlp_hidden"]
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"alpha_mlp_hidden={hidden} must be a positive integer")
        alpha_init = _check_unit_interval("alpha_init", config["alpha_init"], open_interval=True)
        self.init = config["alpha_mlp_init"] or "recbole"  # a config older than the key: its init
        if self.init not in ALPHA_MLP_INITS:
            raise ValueError(f"alpha_mlp_init={self.init!r} must be one of {', '.join(ALPHA_MLP_INITS)}")
        self.max_length = config["MAX_ITEM_LIST_LENGTH"]
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self._alpha_init = alpha_init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Restore the documented start: ``a(L) = alpha_init``, and under ``basis`` the hidden layer's basis
        (the model's weight init, applied to every Linear, would overwrite both)."""
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.constant_(self.mlp[2].bias, math.log(self._alpha_init / (1 - self._alpha_init)))
        if self.init == "basis":
            first = self.mlp[0]
            low, high = math.log1p(1), math.log1p(max(self.max_length, 2))
            units = first.out_features
            centres = torch.linspace(low, high, units) if units > 1 else torch.tensor([(low + high) / 2])
            spacing = (high - low) / max(units - 1, 1)
            with torch.no_grad():
                first.weight.fill_(1 / spacing)
                first.bias.copy_(-centres / spacing)

    def forward(self, item_seq_len: torch.Tensor) -> torch.Tensor:
        x = torch.log1p(item_seq_len.float()).unsqueeze(-1)
        return torch.sigmoid(self.mlp(x)).squeeze(-1)


#: Values of ``fusion_form``: how ``a(L)`` combines ``E`` and ``G`` (``LengthAdaptiveFusion.combine``).
FUSION_FORMS = ("mix", "residual")
#: Values of ``item_gate``: ``none``, or ``learned``, a learned scale of each item's row of ``G``.
ITEM_GATES = ("none", "learned")
#: Values of ``graph_table``: what the graph propagates, a table of its own (``separate``) or the ID table ``E``
#: itself (``shared``: ``G`` is a function of ``E``, so the inputs stay tied to the scoring table).
GRAPH_TABLES = ("separate", "shared")


def check_fusion_form(value: object) -> str:
    """Return ``value`` when it is one of ``FUSION_FORMS``; else raise a ``ValueError`` naming the key."""
    if value not in FUSION_FORMS:
        raise ValueError(f"fusion_form={value!r} must be one of {', '.join(FUSION_FORMS)}")
    return value


def check_item_gate(value: object) -> str:
    """Return ``value`` when it is one of ``ITEM_GATES``; else raise a ``ValueError`` naming the key."""
    if value not in ITEM_GATES:
        raise ValueError(f"item_gate={value!r} must be one of {', '.join(ITEM_GATES)}")
    return value


def check_graph_table(value: object) -> str:
    """Return ``value`` when it is one of ``GRAPH_TABLES``; else raise a ``ValueError`` naming the key."""
    if value not in GRAPH_TABLES:
        raise ValueError(f"graph_table={value!r} must be one of {', '.join(GRAPH_TABLES)}")
    return value


def item_gates(q: torch.Tensor) -> torch.Tensor:
    """``[n_items]`` item gates ``g = 2 sigmoid(q)`` in (0, 2), 1 at ``q = 0``, of the parameter ``q [n_items]``."""
    return 2 * torch.sigmoid(q)


class LengthAdaptiveFusion(nn.Module):
    """``E`` and ``G = Linear(mean_{k=0..K} A_hat^k E_g)`` fused with the weight ``a(L)``, in one of two forms.

    ``E_g`` is the graph's own table (``graph_table: separate``, ``graph_embedding``), or ``E`` itself (``shared``:
    no second table; the projection starts at the identity, so ``G`` starts as the LightGCN mean of ``E``).

    - ``fusion_form: mix``: ``x_t = a(L) * E[i_t] + (1 - a(L)) * G[i_t]``, a convex mix of the two tables.
    - ``fusion_form: residual``: ``x_t = E[i_t] + (1 - a(L)) * G[i_t]``, the graph gated on top of SASRec's input.

    Inputs (``fuse``) and the fused scoring table (``fused_scores``) follow the same form. With ``item_gate:
    learned``, row ``i`` of ``G`` is scaled by ``g_i = 2 sigmoid(q_i)``, one learned ``q_i`` per item starting at 0
    (``g_i = 1``): the graph's weight becomes ``(1 - a(L)) g_i``, a length gate times an item gate. Being a scale
    of ``G``'s rows, it leaves the fusion linear in ``E`` and ``G``.

    Args:
        config: RecBole ``Config``; reads ``hidden_size``, ``gnn_layers``, ``graph_window``, ``graph_min_count``,
            ``graph_cache_dir``, ``fusion_form``, ``item_gate``, ``graph_table``.
        dataset: the training split, from which the co-occurrence graph is built.
        alpha_policy: module mapping ``item_seq_len [B]`` to ``a(L) [B]``.
    """

    def __init__(self, config, dataset, alpha_policy: nn.Module) -> None:
        super().__init__()
        n_items = dataset.num(config["ITEM_ID_FIELD"])
        hidden_size = config["hidden_size"]
        self.form = check_fusion_form(config["fusion_form"])
        gate = check_item_gate(config["item_gate"])
        self.gnn_layers = config["gnn_layers"]
        window, min_count = config["graph_window"], config["graph_min_count"]
        for key, value, least in (("gnn_layers", self.gnn_layers, 0), ("graph_window", window, 1),
                                  ("graph_min_count", min_count, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{key}={value} must be an integer >= {least}")
        adj = build_item_graph(dataset, window, min_count, config["graph_cache_dir"])
        self.register_buffer("adjacency", to_torch_sparse(adj), persistent=False)  # derived from the data
        self.shared = check_graph_table(config["graph_table"]) == "shared"
        # under shared, G propagates the model's ID table: no table of its own
        self.graph_embedding = None if self.shared else nn.Embedding(n_items, hidden_size, padding_idx=0)
        self.graph_projection = nn.Linear(hidden_size, hidden_size)
        # q of g = 2 sigmoid(q) per item; a plain parameter, so the models' Linear/Embedding init leaves it at 0
        self.item_gate = nn.Parameter(torch.zeros(n_items)) if gate == "learned" else None
        self.alpha_policy = alpha_policy

    def reset_parameters(self) -> None:
        """Under ``graph_table: shared``, start the projection at the identity (the model's generic init would
        shrink ``G`` to about 0.02 x the mean of ``E``'s neighbours); a separate table keeps the generic init."""
        if self.shared:
            nn.init.eye_(self.graph_projection.weight)
            nn.init.zeros_(self.graph_projection.bias)

    def graph_table(self, id_table: torch.Tensor) -> torch.Tensor:
        """``[n_items, H]`` graph item table ``G``: one sparse matmul per LightGCN layer, mean over layers 0..K,
        projected, each row scaled by its item gate ``g_i`` under ``item_gate: learned``.

        ``id_table``: ``[n_items, H]`` the model's ID table ``E``, the propagated table under ``graph_table:
        shared`` (unused otherwise)."""
        layer = id_table if self.shared else self.graph_embedding.weight
        total = layer
        # float32 under an outer bf16 autocast (fast_bf16): the sparse product's backward has no mixed-dtype kernel
        with torch.autocast(layer.device.type, enabled=False):
            for _ in range(self.gnn_layers):
                layer = torch.sparse.mm(self.adjacency, layer)
                total = total + layer
        table = self.graph_projection(total / (self.gnn_layers + 1))
        if self.item_gate is None:
            return table
        return table * item_gates(self.item_gate).unsqueeze(1)

    def combine(self, a: torch.Tensor, id_part: torch.Tensor, graph_part: torch.Tensor) -> torch.Tensor:
        """``a * id_part + (1 - a) * graph_part`` (mix) or ``id_part + (1 - a) * graph_part`` (residual).

        ``a`` broadcasts against the parts. The one place of the fusion formula: it is linear in the parts, so it
        turns rows of ``E`` and ``G`` into fused inputs, and scores against ``E`` and ``G`` into scores against the
        fused table.
        """
        if self.form == "mix":
            return a * id_part + (1 - a) * graph_part
        return id_part + (1 - a) * graph_part

    def fuse(self, item_seq: torch.Tensor, alpha: torch.Tensor, id_table: torch.Tensor,
             graph: torch.Tensor) -> torch.Tensor:
        """Fused inputs ``x [B, T, H]`` of item ids ``item_seq [B, T]``, one weight ``alpha [B]`` per row.

        ``a E[i] + (1 - a) G[i]`` (mix) or ``E[i] + (1 - a) G[i]`` (residual).
        """
        return self.combine(alpha.view(-1, 1, 1), id_table[item_seq], graph[item_seq])

    def fused_scores(self, seq_output: torch.Tensor, alpha: torch.Tensor, id_table: torch.Tensor,
                     graph: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores against each row's fused table, ``a E + (1 - a) G`` (mix) or ``E + (1 - a) G`` (residual).

        Computed as the form's combination of ``seq_output @ E.T`` and ``seq_output @ G.T``, which never builds a
        ``[B, n_items, H]`` table for the ``B`` different weights.

        Args:
            seq_output: ``[B, H]`` sequence representations.
            alpha: ``[B]`` the weights ``a(L)``.
            id_table: ``[n_items, H]`` ID table ``E``.
            graph: ``[n_items, H]`` graph table ``G``.
            items: ``[B]`` one item per row, or None for every item.

        Returns:
            ``[B, n_items]`` when ``items`` is None, else ``[B]``, the score of ``items[b]`` for row ``b``.
        """
        if items is None:
            return self.combine(alpha.unsqueeze(-1), seq_output @ id_table.t(), seq_output @ graph.t())
        return self.combine(alpha, (seq_output * id_table[items]).sum(-1), (seq_output * graph[items]).sum(-1))

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
        graph = self.graph_table(id_table)
        alpha = self.alpha_policy(item_seq_len)
        return self.fuse(item_seq, alpha, id_table, graph), alpha, graph
