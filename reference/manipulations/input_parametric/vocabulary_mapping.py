"""Learned vocabulary mapping for cross-domain text reprogramming
(λ learnable, ℓ input, τ parametric; text).

Neekhara et al., "Adversarial Reprogramming of Text Classification Neural Networks" (EMNLP 2019)
and R2DL-style cross-domain reprogramming of language models (Vinod et al. 2023): a target
sequence over its own vocabulary (DNA, proteins, another language) is translated token by token
into the source vocabulary by a learned map ``θ ∈ R^{V_target × V_source}``; each target token
becomes ``softmax(θ_t / T)`` over source tokens, embedded through the frozen table. Because the
map is per *token type*, the mapped embedding table ``softmax(θ) E`` is computed once per step and
looked up — no ``(B, L, V)`` tensor. ``hard=True`` feeds real source tokens (straight-through).
Special tokens (padding, ``[MASK]``, ...) can be pinned to fixed source ids.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import straight_through, text_adapter


@register_manipulation("vocabulary_mapping", default_for=("text",))
class VocabularyMapping(Manipulation):
    """Learned vocabulary mapping (Neekhara et al., EMNLP 2019; R2DL, Vinod et al., 2023). Cell: learnable · input · parametric."""

    cell = ("learnable", "input", "parametric")
    modalities = ("text",)

    def __init__(
        self,
        adapter,
        target_vocab_size: int,
        special_tokens: Mapping[int, int] | None = None,
        temperature: float = 1.0,
        hard: bool = False,
        init_std: float = 0.02,
    ) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "vocabulary_mapping")
        source = adapter.vocab_embeddings.shape[0]
        self.temperature, self.hard = float(temperature), bool(hard)
        self.theta = nn.Parameter(torch.randn(int(target_vocab_size), source) * init_std)
        pinned = torch.full((int(target_vocab_size),), -1, dtype=torch.long)
        for t, s in (special_tokens or {}).items():
            if not (0 <= t < target_vocab_size and 0 <= s < source):
                raise ValueError(f"vocabulary_mapping: special token {t} -> {s} out of range")
            pinned[t] = s
        self.register_buffer("pinned", pinned)

    def weights(self) -> Tensor:
        """``(V_target, V_source)`` rows: the distribution each target token is mapped to."""
        probs = (self.theta / self.temperature).softmax(-1)
        if self.hard:
            probs = straight_through(probs)
        fixed = self.pinned >= 0
        if bool(fixed.any()):
            onehot = torch.zeros_like(probs)
            onehot[fixed, self.pinned[fixed]] = 1.0
            probs = torch.where(fixed.unsqueeze(1), onehot, probs)
        return probs

    def source_ids(self) -> Tensor:
        """The source token each target token currently maps to most strongly."""
        return torch.where(self.pinned >= 0, self.pinned, self.theta.argmax(-1))

    def transform_input(self, x) -> TokenBatch:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("vocabulary_mapping: needs target input_ids")
        table = self.weights() @ self.adapter.vocab_embeddings  # (V_target, D)
        ids = batch.input_ids
        return batch.replace(input_ids=self.source_ids()[ids], inputs_embeds=table[ids])
