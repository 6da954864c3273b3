"""A fixed token translation table from a target vocabulary into the source's
(λ fixed, ℓ input, τ parametric; text).

Reusing a frozen language model on sequences written in another alphabet (nucleotides, amino
acids, symbols, serialised digits as in LLMTime, Gruver et al., NeurIPS 2023) begins with a
hand-written map from each target symbol to source token ids — the fixed counterpart of the
learned vocabulary mapping (Neekhara et al. 2019). The map is a function applied to every token,
``x' = g(x)``: parametric, with no trainable parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import text_adapter


@register_manipulation("token_translation", default_for=("text",))
class TokenTranslation(Manipulation):
    """Fixed target-to-source token translation table (the fixed counterpart of Neekhara et al. 2019; LLMTime-style serialisation). Cell: fixed · input · parametric.

    Args: table: ``table[target_id] = source_id`` as a sequence, tensor or mapping (every
    target id used must be present)."""

    cell = ("fixed", "input", "parametric")
    modalities = ("text",)

    def __init__(self, adapter, table: Sequence[int] | Tensor | Mapping[int, int]) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "token_translation")
        if isinstance(table, Mapping):
            size = max(table) + 1
            t = torch.full((size,), -1, dtype=torch.long)
            for k, v in table.items():
                t[int(k)] = int(v)
        else:
            t = torch.as_tensor(table, dtype=torch.long).view(-1)
        vocab = adapter.vocab_embeddings.shape[0]
        used = t[t >= 0]
        if used.numel() == 0 or bool((used >= vocab).any()):
            raise ValueError(
                f"token_translation: table must map into the source vocabulary [0, {vocab})"
            )
        self.register_buffer("table", t)

    def transform_input(self, x) -> TokenBatch:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("token_translation: needs input_ids")
        ids = batch.input_ids
        if bool((ids >= self.table.numel()).any()) or bool((self.table[ids] < 0).any()):
            raise ValueError("token_translation: input contains target ids missing from the table")
        return batch.replace(input_ids=self.table[ids])
