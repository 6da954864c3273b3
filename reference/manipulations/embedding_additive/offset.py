"""Offsets added to the token/patch embeddings (ℓ embedding, τ additive).

* ``embedding_offset`` (λ learnable) — DePT, Shi & Lipani, "Decomposed Prompt Tuning via Low-Rank
  Reparameterization" (ICLR 2024), which learns an offset ``ΔE = A B`` added to the frozen input
  embeddings of the first ``positions`` tokens; ``rank=None`` learns the full
  ``(positions, D)`` offset. On a ViT the offset is per token position after the position
  embedding, a learned second position embedding. It starts at zero (``B = 0``), so training
  starts from the unmodified model.
* ``fixed_embedding_offset`` (λ fixed) — an activation-addition vector (Turner et al., "Steering
  Language Models With Activation Engineering", 2023) injected at the embedding layer: the
  difference of mean embeddings of two prompt sets (or a given vector), scaled and added to every
  token. No parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import mean_difference


def _default_positions(adapter) -> int:
    if adapter.modality == "vision":
        return adapter.prompt_offset + adapter.num_patches
    return 64


@register_manipulation("embedding_offset", default_for=("vision", "text"))
class EmbeddingOffset(Manipulation):
    """Learned offset on the input embeddings (DePT, Shi & Lipani, ICLR 2024). Cell: learnable · embedding · additive."""

    cell = ("learnable", "embedding", "additive")
    needs_tokens = True

    def __init__(
        self, adapter, positions: int | None = None, rank: int | None = None, init_std: float = 0.02
    ) -> None:
        super().__init__(adapter)
        d = adapter.embed_dim
        self.positions = int(positions or _default_positions(adapter))
        self.rank = rank
        if rank is None:
            self.offset = nn.Parameter(torch.zeros(self.positions, d))
        else:
            self.a = nn.Parameter(torch.randn(self.positions, int(rank)) * init_std)
            self.b = nn.Parameter(torch.zeros(int(rank), d))

    def delta(self) -> Tensor:
        return self.offset if self.rank is None else self.a @ self.b

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        tokens = embed(x)
        n = min(tokens.shape[1], self.positions)
        delta = self.delta()[:n]
        if n < tokens.shape[1]:
            delta = torch.cat([delta, delta.new_zeros(tokens.shape[1] - n, delta.shape[1])])
        return tokens + delta.to(tokens.dtype)


@register_manipulation("fixed_embedding_offset", default_for=("vision", "text"))
class FixedEmbeddingOffset(Manipulation):
    """Activation addition at the embedding layer (ActAdd, Turner et al., 2023). Cell: fixed · embedding · additive.

    Args: vector ``(D,)``, or positives/negatives (inputs as the backbone takes them) to take the
    difference of their mean embeddings; coefficient: the scale."""

    cell = ("fixed", "embedding", "additive")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        vector: Tensor | None = None,
        positives: Any = None,
        negatives: Any = None,
        coefficient: float = 1.0,
    ) -> None:
        super().__init__(adapter)
        if vector is None:
            if positives is None or negatives is None:
                raise ValueError("fixed_embedding_offset: give vector, or positives and negatives")
            vector = mean_difference(adapter, positives, negatives, layer=None)
        v = torch.as_tensor(vector, dtype=torch.float32).detach().cpu().view(-1)
        if v.numel() != adapter.embed_dim:
            raise ValueError(
                f"fixed_embedding_offset: vector has {v.numel()} values, model width {adapter.embed_dim}"
            )
        self.register_buffer("vector", v * float(coefficient))

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        tokens = embed(x)
        return tokens + self.vector.to(tokens.dtype)
