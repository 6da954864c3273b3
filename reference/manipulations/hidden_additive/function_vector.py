"""Function vectors (λ fixed, ℓ hidden, τ additive; text).

Todd et al., "Function Vectors in Large Language Models" (ICLR 2024): a handful of attention heads
carry the task that in-context demonstrations describe. Their outputs at the last token, averaged
over in-context prompts and summed, form the function vector

    v = Σ_{(l, h) ∈ A} W_O^l[:, h] · mean_prompts( z_{l,h}(last token) )          (D,)

and adding ``v`` to the hidden state of a *zero-shot* prompt at layer ``ℓ`` (last token) makes the
model perform the task. The heads' outputs ``z`` are read by ``TextAdapter.head_outputs`` (a hook
on each layer's output projection) and mapped to the residual stream by ``project_head``.

The paper chooses ``A`` by causal mediation: a head's average indirect effect is how much
patching its mean output into prompts whose demonstrations have shuffled labels raises the
probability of the correct answer; :func:`indirect_effects` computes it for every head and
:func:`top_heads` keeps the strongest. ``heads`` may also be given directly.

Simplified: the effect is averaged over the prompts given (the paper also averages over tasks to
pick one universal set of heads), and the vector is added at one layer. Nothing is trained.
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


@torch.no_grad()
def indirect_effects(
    model_or_adapter: Any, prompts: Any, corrupted: Any, answers: Sequence[int]
) -> Tensor:
    """``(L, H)``: each head's average indirect effect on the answer's probability.

    ``prompts`` are in-context prompts, ``corrupted`` the same prompts with the demonstrations'
    labels shuffled (same lengths), ``answers`` the correct answer token of each. For head
    ``(l, h)``: its mean last-token output over ``prompts`` replaces its output at the last token
    of every corrupted prompt, and the effect is the mean rise of ``p(answer)`` over the unpatched
    corrupted run.
    """
    adapter = text_adapter(adapt(model_or_adapter), "indirect_effects")
    clean = TokenBatch.coerce(adapter.to_device(TokenBatch.coerce(prompts)))
    bad = TokenBatch.coerce(adapter.to_device(TokenBatch.coerce(corrupted)))
    answers_t = torch.as_tensor(list(answers), device=adapter.device)
    layers = list(range(adapter.num_layers))
    means = {l: z[torch.arange(clean.batch_size, device=adapter.device),
                  adapter.answer_index(clean).to(adapter.device)].mean(0)  # (H, d)
             for l, z in adapter.head_outputs(clean, layers).items()}
    rows = torch.arange(bad.batch_size, device=adapter.device)
    last = adapter.answer_index(bad).to(adapter.device)
    plain = Manipulation(adapter)

    def p_answer() -> Tensor:
        probs = adapter.forward_embeddings(adapter.embed(bad), bad.mask(), plain, last).softmax(-1)
        return probs[rows, answers_t]  # (B,)

    base = p_answer()
    effects = torch.zeros(adapter.num_layers, adapter.num_heads)
    d = adapter.head_dim
    for layer in layers:
        for head in range(adapter.num_heads):
            def patch(module: Any, args: tuple, layer: int = layer, head: int = head) -> tuple:
                z = args[0].clone()  # (B, N, H·d)
                z[rows, last, head * d : (head + 1) * d] = means[layer][head].to(z.dtype)
                return (z,) + tuple(args[1:])

            handle = adapter.out_projection(layer).register_forward_pre_hook(patch)
            try:
                effects[layer, head] = (p_answer() - base).mean().float().cpu()
            finally:
                handle.remove()
    return effects


def top_heads(effects: Tensor, k: int) -> list[tuple[int, int]]:
    """The ``k`` heads ``(layer, head)`` with the largest indirect effect, strongest first."""
    flat = effects.flatten().topk(min(k, effects.numel())).indices.tolist()
    return [divmod(i, effects.shape[1]) for i in flat]


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
