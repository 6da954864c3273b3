"""Key/value prefixes in every attention layer (λ learnable, ℓ hidden, τ concatenative).

Prefix tuning — Li & Liang, "Prefix-Tuning: Optimizing Continuous Prompts for Generation" (ACL
2021): every attention layer ``l`` attends to ``P`` learned key/value pairs before the sequence,

    head_l(x) = softmax(q [K_l^prefix; K_l(x)]ᵀ / √d) [V_l^prefix; V_l(x)],

while the model's weights stay frozen. The prefix is *not* a token sequence: nothing is inserted
into the residual stream, unlike ``deep_prompt`` (P-tuning v2 / VPT-deep written as per-layer
tokens, whose keys and values the frozen projections still compute). Here the keys and values are
the parameters; the text adapter hands them to the model as its key/value cache
(``past_key_values``), so the model reads them exactly as the cache of ``P`` earlier tokens
(positions of the real tokens start at ``P``, as in PEFT).

Reparametrisation (the paper's: optimising the prefix directly was unstable): while training,
``P_θ = MLP(P'_θ)`` with ``P'_θ`` a ``(P, D)`` matrix and ``MLP`` = Linear(D, hidden) →
Tanh → Linear(hidden, layers · 2 · D), as in the authors' code and PEFT's
``prefix_projection``; after training ``merge()`` keeps only ``P_θ`` and drops the MLP.
``projection_hidden=None`` trains ``P_θ`` directly.

Layout of ``P_θ`` ``(P, layers · 2 · H · d)``: for each position, layer-major, then key/value,
then head, then head dimension — PEFT's layout, so trained prefixes copy across unchanged.
``init_ids`` (direct prefix only) starts from the frozen model's own keys and values for those
tokens, the paper's initialisation with real words' activations; the untrained model then reads
exactly what it would read with those tokens in front of the input (the test pins this).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import Reparametrized, text_adapter


@dataclass
class PrefixTuningConfig:
    """Settings of :class:`PrefixTuning`."""

    length: int = 10  # prefix positions P per layer
    projection_hidden: int | None = 512  # reparametrisation MLP width; None: no MLP
    init_ids: Sequence[int] | None = None  # start from the frozen model's keys/values of tokens

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"length must be at least 1, got {self.length}")
        if self.projection_hidden is not None and self.projection_hidden < 1:
            raise ValueError(f"projection_hidden must be at least 1, got {self.projection_hidden}")
        if self.init_ids is not None:
            self.init_ids = [int(i) for i in self.init_ids]
            if len(self.init_ids) != self.length:
                raise ValueError(f"{len(self.init_ids)} init_ids for a prefix of {self.length}")
            if self.projection_hidden is not None:
                raise ValueError(
                    "init_ids sets the prefix itself: use projection_hidden=None (an MLP's input "
                    "cannot be solved for from its output)"
                )


class PrefixMLP(nn.Module):
    """``P'_θ`` ``(P, D)`` -> ``P_θ`` ``(P, layers · 2 · H · d)``: Linear, Tanh, Linear."""

    def __init__(self, length: int, dim: int, hidden: int, out: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(length, dim))  # (P, D), as nn.Embedding
        self.transform = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, out))

    def forward(self) -> Tensor:
        return self.transform(self.embedding)


@register_manipulation(
    "prefix_tuning", papers=("li2021prefix",), fidelity="faithful", config=PrefixTuningConfig
)
class PrefixTuning(Manipulation):
    """Learned key/value prefixes in every attention layer, prefix tuning (Li & Liang, ACL 2021). Cell: learnable · hidden · concatenative."""

    cell = ("learnable", "hidden", "concatenative")
    modalities = ("text",)
    needs_tokens = True

    def __init__(self, adapter, config: PrefixTuningConfig) -> None:
        super().__init__(adapter)
        text = text_adapter(adapter, "prefix_tuning")
        self.config = config
        self.shape = (text.num_layers, 2, text.num_kv_heads, text.head_dim)  # per position
        width = text.num_layers * 2 * text.num_kv_heads * text.head_dim
        if config.projection_hidden is not None:
            mlp = PrefixMLP(config.length, text.embed_dim, config.projection_hidden, width)
            self.prefix = Reparametrized(mlp)
        else:
            if config.init_ids is not None:
                flat = self._activations(text, config.init_ids)  # (P, width)
            else:
                flat = torch.randn(config.length, width)  # (P, width), as nn.Embedding
            self.prefix = Reparametrized.direct(flat)

    def _activations(self, text, ids: Sequence[int]) -> Tensor:
        """The frozen model's own keys/values for ``ids``, in the flat layout ``(P, width)``."""
        with torch.no_grad():
            ids_t = torch.tensor([list(ids)], device=text.device)
            out = text.model(input_ids=ids_t, use_cache=True)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is None:
            raise ValueError(
                f"prefix_tuning: {type(text.model).__name__} returns no key/value cache, so "
                "init_ids cannot be read from it (use a causal LM or a random prefix)"
            )
        kv = torch.stack(
            [torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers]
        )  # (layers, 2, H, P, d)
        assert kv.shape[:-2] + kv.shape[-1:] == self.shape, (tuple(kv.shape), self.shape)
        return kv.permute(3, 0, 1, 2, 4).reshape(len(ids), -1).float().cpu().clone()

    def merge(self) -> None:
        """Keep only ``P_θ`` (for inference); the reparametrisation MLP is dropped."""
        self.prefix.merge()

    def key_value_prefix(self, batch_size: int) -> list[tuple[Tensor, Tensor]]:
        layers, _, heads, d = self.shape
        p = self.config.length
        dtype = self.adapter.embedding.weight.dtype
        kv = self.prefix().to(dtype).view(p, layers, 2, heads, d)  # (P, layers, 2, H, d)
        kv = kv.permute(1, 2, 3, 0, 4)  # (layers, 2, H, P, d)
        kv = kv.unsqueeze(2).expand(-1, -1, batch_size, -1, -1, -1)  # (layers, 2, B, H, P, d)
        return [(kv[layer, 0], kv[layer, 1]) for layer in range(layers)]
