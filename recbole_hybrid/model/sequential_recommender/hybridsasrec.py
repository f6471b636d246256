"""HybridSASRec: RecBole's SASRec reading length-adaptive fused item embeddings.

The shared body of the hybrid variants. A variant only says how ``a(L)`` is computed, by overriding
``build_alpha_policy``; its property file holds its defaults (``fusion_form`` among them). Layer names follow
RecBole's ``SASRec`` (``item_embedding``, ``position_embedding``, ``trm_encoder``, ``LayerNorm``) so that their
weights can be exchanged with ``load_state_dict``.
"""

from __future__ import annotations

import torch
from torch import nn

from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.layers import TransformerEncoder
from recbole.model.loss import BPRLoss

from recbole_hybrid.model.layers import LengthAdaptiveFusion


class HybridSASRec(SequentialRecommender):
    r"""SASRec over ``x_t = a(L) E[i_t] + (1 - a(L)) G[i_t]`` (or ``E[i_t] + (1 - a(L)) G[i_t]``: ``fusion_form``).

    Abstract: subclasses define ``build_alpha_policy``.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)

        # load parameters info
        self.n_layers = config["n_layers"]
        self.n_heads = config["n_heads"]
        self.hidden_size = config["hidden_size"]  # same as embedding_size
        self.inner_size = config["inner_size"]  # the dimensionality in feed-forward layer
        self.hidden_dropout_prob = config["hidden_dropout_prob"]
        self.attn_dropout_prob = config["attn_dropout_prob"]
        self.hidden_act = config["hidden_act"]
        self.layer_norm_eps = config["layer_norm_eps"]
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]
        self.score_table = config["score_table"]
        if self.hidden_size % self.n_heads != 0:
            raise ValueError(f"hidden_size={self.hidden_size} is not divisible by n_heads={self.n_heads}")
        if self.score_table not in ("id", "fused"):
            raise ValueError(f"score_table={self.score_table!r} must be 'id' or 'fused'")

        # define layers and loss
        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.fusion = LengthAdaptiveFusion(config, dataset, self.build_alpha_policy(config))
        self.trm_encoder = TransformerEncoder(
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            hidden_size=self.hidden_size,
            inner_size=self.inner_size,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attn_dropout_prob=self.attn_dropout_prob,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
        )
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        self.dropout = nn.Dropout(self.hidden_dropout_prob)

        if self.loss_type == "BPR":
            self.loss_fct = BPRLoss()
        elif self.loss_type == "CE":
            self.loss_fct = nn.CrossEntropyLoss()
        else:
            raise ValueError(f"loss_type={self.loss_type!r} must be 'CE' or 'BPR'")

        # parameters initialization
        self.apply(self._init_weights)
        self.fusion.reset_parameters()  # a shared graph's projection starts at the identity
        policy = self.fusion.alpha_policy
        if hasattr(policy, "reset_parameters"):
            policy.reset_parameters()  # a policy that promises its starting a(L) undoes the generic init

    @staticmethod
    def build_alpha_policy(config) -> nn.Module:
        """Return the module mapping ``item_seq_len [B]`` to ``a(L) [B]``. The only thing a variant defines.

        It raises ``ValueError`` naming the key when the policy's hyper-parameters are impossible.
        """
        raise NotImplementedError

    def _init_weights(self, module):
        """Initialize the weights, as RecBole's SASRec does."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def hidden_states(self, item_seq: torch.Tensor, alpha: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """The causal Transformer's output at every position.

        Args:
            item_seq: ``[B, T]`` item ids, right-padded with 0.
            alpha: ``[B]`` weight ``a`` of the ID table, one per row (every input position of a row uses it).
            graph: ``[n_items, H]`` graph table ``G`` (``graph_table()``, computed once per batch).

        Returns:
            ``[B, T, H]``; position ``t`` depends only on items ``0..t`` (causal mask).
        """
        position_ids = torch.arange(item_seq.size(1), dtype=torch.long, device=item_seq.device)
        position_ids = position_ids.unsqueeze(0).expand_as(item_seq)
        position_embedding = self.position_embedding(position_ids)

        item_emb = self.fusion.fuse(item_seq, alpha, self.item_embedding.weight, graph)
        input_emb = item_emb + position_embedding
        input_emb = self.LayerNorm(input_emb)
        input_emb = self.dropout(input_emb)

        extended_attention_mask = self.get_attention_mask(item_seq)
        trm_output = self.trm_encoder(input_emb, extended_attention_mask, output_all_encoded_layers=True)
        return trm_output[-1]

    def encode(
        self, item_seq: torch.Tensor, item_seq_len: torch.Tensor, alpha_length: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the fused inputs through the causal Transformer.

        Args:
            item_seq: ``[B, T]`` item ids, right-padded with 0.
            item_seq_len: ``[B]`` number of real items (RecBole's capped ``item_length``).
            alpha_length: ``[B]`` the length ``L`` that sets ``a(L)``; ``item_seq_len`` when None. A row cut from a
                later window of a long history has fewer items than its true (capped) history length.

        Returns:
            ``seq_output [B, H]`` at position ``item_seq_len - 1``, ``alpha [B]``, graph table ``G [n_items, H]``.
        """
        graph = self.graph_table()
        alpha = self.fusion.alpha_policy(item_seq_len if alpha_length is None else alpha_length)
        output = self.gather_indexes(self.hidden_states(item_seq, alpha, graph), item_seq_len - 1)
        return output, alpha, graph

    def graph_table(self) -> torch.Tensor:
        """``[n_items, H]`` the graph table ``G`` (``LengthAdaptiveFusion.graph_table``), of this model's ``E``."""
        return self.fusion.graph_table(self.item_embedding.weight)

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """``[B, H]`` sequence representation."""
        return self.encode(item_seq, item_seq_len)[0]

    def _scores(
        self, seq_output: torch.Tensor, alpha: torch.Tensor, graph: torch.Tensor, items: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores against the ID table, or the per-sequence fused table of the fusion's form (``fused_scores``).

        Returns ``[B, n_items]`` when ``items`` is None, else ``[B]`` for one item ``items[b]`` per row.
        """
        id_table = self.item_embedding.weight
        if self.score_table == "fused":
            return self.fusion.fused_scores(seq_output, alpha, id_table, graph, items)
        if items is None:
            return seq_output @ id_table.t()
        return (seq_output * id_table[items]).sum(-1)

    def calculate_loss(self, interaction):
        item_seq = interaction[self.ITEM_SEQ]
        item_seq_len = interaction[self.ITEM_SEQ_LEN]
        seq_output, alpha, graph = self.encode(item_seq, item_seq_len)
        pos_items = interaction[self.POS_ITEM_ID]
        if self.loss_type == "BPR":
            neg_items = interaction[self.NEG_ITEM_ID]
            pos_score = self._scores(seq_output, alpha, graph, pos_items)
            neg_score = self._scores(seq_output, alpha, graph, neg_items)
            return self.loss_fct(pos_score, neg_score)
        logits = self._scores(seq_output, alpha, graph)
        return self.loss_fct(logits, pos_items)

    def predict(self, interaction):
        item_seq = interaction[self.ITEM_SEQ]
        item_seq_len = interaction[self.ITEM_SEQ_LEN]
        seq_output, alpha, graph = self.encode(item_seq, item_seq_len)
        return self._scores(seq_output, alpha, graph, interaction[self.ITEM_ID])  # [B]

    def full_sort_predict(self, interaction):
        item_seq = interaction[self.ITEM_SEQ]
        item_seq_len = interaction[self.ITEM_SEQ_LEN]
        seq_output, alpha, graph = self.encode(item_seq, item_seq_len)
        return self._scores(seq_output, alpha, graph)  # [B n_items]

    @torch.no_grad()
    def alpha_of_length(self, lengths: torch.Tensor) -> torch.Tensor:
        """``a(L)`` for given history lengths ``[N]`` (for analysis and plots)."""
        return self.fusion.alpha_policy(lengths.to(self.item_embedding.weight.device))
