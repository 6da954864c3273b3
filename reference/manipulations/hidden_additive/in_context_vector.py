"""In-context vectors (λ fixed, ℓ hidden, τ additive; text).

Liu et al., "In-context Vectors: Making In Context Learning More Effective and Controllable
Through Latent Space Steering" (ICML 2024): instead of putting demonstrations ``(x_i, y_i)`` in the
prompt, read the frozen model's last-token states of each ``x_i`` and ``y_i`` at every layer,
take their differences ``Δ_i = h(y_i) − h(x_i)`` ``(L·D,)``, and keep the first principal direction
of the ``Δ_i`` as the in-context vector. On a new query every layer's states are shifted by
``α · icv_l`` (``icv_l`` the layer's slice, unit-normalised) and rescaled to their original norm,
so the shift turns the states rather than inflating them.

Simplified: the direction is the first right singular vector of the stacked ``Δ_i`` (signed to
agree with their mean), and the shift is added to each block's output (the residual stream); the
authors' code adds it after each MLP and also scales it by a cosine-similarity factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ...backbones import RecordStates, adapt
from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import _pool, text_adapter


@torch.no_grad()
def _last_states(adapter: Any, inputs: Any) -> Tensor:
    """Every block's output at the last real token, ``(B, L, D)``."""
    batch = TokenBatch.coerce(adapter.to_device(TokenBatch.coerce(inputs)))
    mask = batch.mask()
    capture = RecordStates(adapter, at="output")  # where the shift is added
    adapter.forward_embeddings(adapter.embed(batch), mask, capture)
    return torch.stack([_pool(h, mask, "last") for h in capture.states], dim=1).float().cpu()


@torch.no_grad()
def in_context_vector(model_or_adapter: Any, inputs: Any, targets: Any) -> Tensor:
    """``(L, D)``: the first principal direction of ``h(targets) − h(inputs)`` (paired rows)."""
    adapter = text_adapter(adapt(model_or_adapter), "in_context_vector")
    hx, hy = _last_states(adapter, inputs), _last_states(adapter, targets)
    if hx.shape != hy.shape:
        raise ValueError("in_context_vector: inputs and targets must be paired (same count)")
    delta = (hy - hx).flatten(1)  # (K, L·D)
    _, _, vh = torch.linalg.svd(delta, full_matrices=False)
    direction = vh[0]
    if torch.dot(direction, delta.mean(0)) < 0:  # an SVD direction has no sign; take the mean's
        direction = -direction
    return direction.view(hx.shape[1], hx.shape[2])


@dataclass
class InContextVectorConfig:
    """Settings of :class:`InContextVector`."""

    inputs: Any = None  # demonstration inputs x_i (token ids / tokenizer output)
    targets: Any = None  # their answers y_i, paired row by row
    vector: Any = None  # a precomputed (L, D) vector instead
    strength: float = 0.1  # α
    layers: Sequence[int] | None = None  # None: every block (the paper)

    def __post_init__(self) -> None:
        if self.vector is None and (self.inputs is None or self.targets is None):
            raise ValueError("give vector, or inputs and targets")


@register_manipulation(
    "in_context_vector", papers=("liu2024context",), fidelity="simplified",
    config=InContextVectorConfig,
)
class InContextVector(Manipulation):
    """In-context vector shifting every layer (ICV, Liu et al., ICML 2024). Cell: fixed · hidden · additive.

    Args (``InContextVectorConfig``): inputs + targets, or vector; strength α; layers."""

    cell = ("fixed", "hidden", "additive")
    modalities = ("text",)
    needs_tokens = True

    def __init__(self, adapter, config: InContextVectorConfig) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "in_context_vector")
        v = config.vector
        if v is None:
            v = in_context_vector(adapter, config.inputs, config.targets)
        v = torch.as_tensor(v, dtype=torch.float32).detach().cpu()
        if tuple(v.shape) != (adapter.num_layers, adapter.embed_dim):
            raise ValueError(
                f"in_context_vector: vector must be ({adapter.num_layers}, {adapter.embed_dim}), "
                f"got {tuple(v.shape)}"
            )
        self.register_buffer("vector", F.normalize(v, dim=-1))  # unit per layer   (L, D)
        self.strength = float(config.strength)
        self.layers = set(range(adapter.num_layers) if config.layers is None else config.layers)

    def after_block(self, index: int, hidden: Tensor) -> Tensor:
        if index not in self.layers:
            return hidden
        norm = hidden.norm(dim=-1, keepdim=True)  # (B, N, 1)
        shifted = hidden + self.strength * self.vector[index].to(hidden.dtype)
        return shifted * (norm / shifted.norm(dim=-1, keepdim=True).clamp_min(1e-6))
