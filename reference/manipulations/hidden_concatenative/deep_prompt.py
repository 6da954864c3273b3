"""Per-layer prompts (λ learnable, ℓ hidden, τ concatenative).

* Vision: VPT-deep — Jia et al., "Visual Prompt Tuning" (ECCV 2022): ``length`` prompt tokens at
  the input of *every* block, each block its own; inserted after the class token, removed before
  the head.
* Text: deep prompt tuning — P-tuning v2 (Liu et al., ACL 2022) / prefix tuning (Li & Liang, ACL
  2021) written as VPT-deep writes it: prompt positions prepended once, and before each layer
  (through a forward pre-hook) those positions are *replaced* by that layer's prompts, so every
  layer reads fresh, learned states there; the later tokens attend to them.

Prompts start small-normal (std 0.02). ``layers`` restricts which blocks get their own prompts
(the others carry the previous block's output at those positions, as in VPT-shallow).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import insert_tokens, replace_tokens, select_layers
from ..embedding_concatenative.soft_prompt import init_prompts


@register_manipulation("deep_prompt", default_for=("vision", "text"))
class DeepPrompt(Manipulation):
    """Per-layer prompts: VPT-deep (Jia et al., ECCV 2022), P-tuning v2 (Liu et al., ACL 2022). Cell: learnable · hidden · concatenative."""

    cell = ("learnable", "hidden", "concatenative")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        length: int = 10,
        layers: int | Iterable[int] | None = None,
        init: str = "normal",
        init_std: float = 0.02,
    ) -> None:
        super().__init__(adapter)
        self.length = int(length)
        self.layers = select_layers(adapter, layers, "deep_prompt")
        self._slot = {layer: i for i, layer in enumerate(self.layers)}
        shape = (len(self.layers), self.length, adapter.embed_dim)
        self.prompts = nn.Parameter(init_prompts(adapter, shape, init, init_std))

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        return insert_tokens(embed(x), self.prompts[0], self.adapter.prompt_offset)

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        slot = self._slot.get(index)
        if slot is None:
            return hidden
        return replace_tokens(hidden, self.prompts[slot], self.adapter.prompt_offset)
