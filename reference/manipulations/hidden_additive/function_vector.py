"""Function vectors (λ fixed, ℓ hidden, τ additive; text).

Todd et al., "Function Vectors in Large Language Models" (ICLR 2024): a handful of attention heads
carry the task that in-context demonstrations describe. Their outputs at the last token, averaged
over in-context prompts and summed, form the function vector

    v = Σ_{(l, h) ∈ A} W_O^l[:, h] · mean_prompts( z_{l,h}(last token) )          (D,)

and adding ``v`` to the hidden state of a *zero-shot* prompt at layer ``ℓ`` (last token) makes the
model perform the task. The heads' outputs ``z`` are read by ``TextAdapter.head_outputs`` (a hook
on each layer's output projection) and mapped to the residual stream by ``project_head``.

Simplified: the paper chooses ``A`` by causal mediation (heads whose mean output, patched into
prompts with shuffled labels, most raises the correct answer's probability); here ``A`` is given
(``heads``), e.g. from that analysis or an earlier paper. Nothing is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...backbones import adapt
from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import select_layers, text_adapter


@torch.no_grad()
def function_vector(model_or_adapter: Any, prompts: Any, heads: Sequence[Sequence[int]]) -> Tensor:
    """``v`` ``(D,)``: the summed mean last-token outputs of ``heads`` (``[(layer, head)]``) over
    in-context ``prompts`` (token ids or a tokenizer's output; the last real token is read)."""
    adapter = text_adapter(adapt(model_or_adapter), "function_vector")
    pairs = [(select_layers(adapter, int(l), "function_vector")[0], int(h)) for l, h in heads]
    if not pairs:
        raise ValueError("function_vector: give at least one (layer, head)")
    for layer, head in pairs:
        if not 0 <= head < adapter.num_heads:
            raise ValueError(f"function_vector: head {head} of layer {layer} out of range")
    batch = TokenBatch.coerce(adapter.to_device(TokenBatch.coerce(prompts)))
    outputs = adapter.head_outputs(batch, sorted({l for l, _ in pairs}))  # layer -> (B, N, H, d)
    rows = torch.arange(batch.batch_size, device=adapter.device)
    last = adapter.answer_index(batch).to(adapter.device)  # (B,)
    v = torch.zeros(adapter.embed_dim)
    for layer, head in pairs:
        mean = outputs[layer][rows, last, head].float().mean(0)  # (d,)
        v += adapter.project_head(layer, head, mean).cpu()
    return v


@dataclass
class FunctionVectorConfig:
    """Settings of :class:`FunctionVector`: where to add, and ``vector`` or what builds it."""

    layer: int = 0  # block whose input receives v (the paper: an early-middle layer)
    heads: Sequence[Sequence[int]] | None = None  # [(layer, head)] averaged into v
    prompts: Any = None  # in-context prompts (demonstrations + query) the heads are read on
    vector: Any = None  # a precomputed v (D,) instead of heads + prompts
    coefficient: float = 1.0

    def __post_init__(self) -> None:
        if self.vector is None and (self.heads is None or self.prompts is None):
            raise ValueError("give vector, or heads and prompts")


@register_manipulation(
    "function_vector", papers=("todd2024function",), fidelity="simplified",
    config=FunctionVectorConfig,
)
class FunctionVector(Manipulation):
    """Function vector added at the last token (Todd et al., ICLR 2024). Cell: fixed · hidden · additive.

    Args (``FunctionVectorConfig``): layer; heads + prompts, or vector; coefficient."""

    cell = ("fixed", "hidden", "additive")
    modalities = ("text",)
    needs_tokens = True

    def __init__(self, adapter, config: FunctionVectorConfig) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "function_vector")
        (self.layer,) = select_layers(adapter, config.layer, "function_vector")
        v = config.vector
        if v is None:
            v = function_vector(adapter, config.prompts, config.heads)
        v = torch.as_tensor(v, dtype=torch.float32).detach().cpu().view(-1)
        if v.numel() != adapter.embed_dim:
            raise ValueError(f"function_vector: {v.numel()} values, model width {adapter.embed_dim}")
        self.register_buffer("vector", v * float(config.coefficient))
        self._positions: Tensor | None = None

    def transform_input(self, x: Any) -> Any:
        # Remember where each sequence's last token is: the function vector goes there only.
        batch = TokenBatch.coerce(x)
        self._positions = self.adapter.answer_index(batch)
        return batch

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        if index != self.layer:
            return hidden
        b, n = hidden.shape[:2]
        rows = torch.arange(b, device=hidden.device)
        where = self._positions
        last = where.to(hidden.device) if where is not None and len(where) == b else \
            torch.full((b,), n - 1, device=hidden.device)
        add = torch.zeros_like(hidden)
        add[rows, last] = self.vector.to(hidden.dtype)  # (B, N, D), non-zero at the last token
        return hidden + add
