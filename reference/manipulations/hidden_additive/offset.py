"""A learned offset on the hidden states of chosen blocks (λ learnable, ℓ hidden, τ additive).

The bias half of RED — Wu et al., "Advancing Parameter Efficiency in Fine-tuning via
Representation Editing" (ACL 2024) — and learned steering vectors (Cao et al., "Personalized
Steering of LLMs via Bi-directional Preference Optimization", NeurIPS 2024): a vector ``δ_i`` per
block added to every position of the block's output, ``h ← h + δ_i``. Starts at zero.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import select_layers


@register_manipulation("hidden_offset", default_for=("vision", "text"))
class HiddenOffset(Manipulation):
    """Learned per-block offset on hidden states (RED, Wu et al., ACL 2024; BiPO steering, Cao et al., 2024). Cell: learnable · hidden · additive."""

    cell = ("learnable", "hidden", "additive")
    needs_tokens = True

    def __init__(self, adapter, layers: int | Iterable[int] | None = None) -> None:
        super().__init__(adapter)
        self.layers = select_layers(adapter, layers, "hidden_offset")
        self._slot = {layer: i for i, layer in enumerate(self.layers)}
        self.offsets = nn.Parameter(torch.zeros(len(self.layers), adapter.embed_dim))

    def after_block(self, index: int, hidden: Tensor) -> Tensor:
        slot = self._slot.get(index)
        return hidden if slot is None else hidden + self.offsets[slot].to(hidden.dtype)
