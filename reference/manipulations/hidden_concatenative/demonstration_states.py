"""Fixed demonstration states prepended in hidden space (λ fixed, ℓ hidden, τ concatenative).

Structured prompting — Hao et al., "Structured Prompting: Scaling In-Context Learning to 1,000
Examples" (2022): demonstrations are encoded *once, independently* by the frozen model, and the
query then attends to their cached representations at every layer instead of re-reading them as
text. Here the per-layer states of the demonstration tokens (block inputs, captured without
gradients at construction) are prepended to the query's sequence; before each block the
adapter's pre-hook puts that layer's demonstration states back in place, so they never depend on
the query. (The paper caches keys and values and rescales attention; this reference prepends the
residual-stream states, which every attention layer turns into the same keys and values.)

Text demonstrations are token ids (padding is dropped); image demonstrations contribute their
patch tokens. No parameters; the states are a non-persistent buffer (recomputable).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import insert_tokens, replace_tokens


@register_manipulation("demonstration_states", default_for=("vision", "text"))
class DemonstrationStates(Manipulation):
    """Fixed demonstration states in hidden space (structured prompting, Hao et al., 2022). Cell: fixed · hidden · concatenative.

    Args: demonstrations — token ids / a tokenizer's output (text) or images ``(K, 3, h, w)``."""

    cell = ("fixed", "hidden", "concatenative")
    needs_tokens = True

    def __init__(self, adapter, demonstrations: Any) -> None:
        super().__init__(adapter)
        with torch.no_grad():
            if adapter.modality == "text":
                batch = adapter.to_device(TokenBatch.coerce(demonstrations))
                keep = batch.mask().bool().reshape(-1)
                per_layer = [adapter.embed(batch)] + adapter.hidden_states(batch)
                states = [s.reshape(-1, s.shape[-1])[keep] for s in per_layer]
            else:
                images = adapter.to_device(torch.as_tensor(demonstrations, dtype=torch.float32))
                per_layer = adapter.hidden_states(images)
                o = adapter.prompt_offset
                states = [per_layer[0]] + per_layer
                states = [s[:, o:].reshape(-1, s.shape[-1]) for s in states]
        # states[0]: what the embedding hook inserts; states[i + 1]: input of block i.
        self.register_buffer("states", torch.stack(states).cpu().clone(), persistent=False)
        self.length = int(self.states.shape[1])

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        return insert_tokens(embed(x), self.states[0], self.adapter.prompt_offset)

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        return replace_tokens(hidden, self.states[index + 1], self.adapter.prompt_offset)
