"""A fixed steering vector added to the residual stream (λ fixed, ℓ hidden, τ additive).

ActAdd — Turner et al., "Steering Language Models With Activation Engineering" (2023) — and
Contrastive Activation Addition (Rimsky et al., ACL 2024): the difference of mean activations at
the input of block ``layer`` for two prompt sets (e.g. "Love" vs "Hate", or contrastive answer
pairs) is scaled by ``coefficient`` and added at every position from then on. Nothing is trained;
:func:`steering_vector` computes the vector from the two sets.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...backbones import adapt
from ...core import Manipulation
from ...registry import register_manipulation
from .._common import mean_difference, select_layers


def steering_vector(
    model_or_adapter: Any, positives: Any, negatives: Any, layer: int, pool: str = "mean"
) -> Tensor:
    """``mean(act(positives)) − mean(act(negatives))`` at the input of block ``layer``.

    ``pool`` says how a sequence becomes one vector: ``"mean"`` over its real tokens, or
    ``"last"`` (its last real token, as CAA reads the answer token).
    """
    adapter = adapt(model_or_adapter)
    (layer,) = select_layers(adapter, layer, "steering_vector")
    return mean_difference(adapter, positives, negatives, layer=layer, pool=pool)


@register_manipulation(
    "steering_vector", default_for=("vision", "text"), papers=("turner2023steering",),
    fidelity="faithful",
)
class SteeringVector(Manipulation):
    """Fixed steering vector (ActAdd, Turner et al., 2023; CAA, Rimsky et al., ACL 2024). Cell: fixed · hidden · additive.

    Args: layer; vector ``(D,)`` or positives/negatives (then :func:`steering_vector`); coefficient."""

    cell = ("fixed", "hidden", "additive")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        layer: int,
        vector: Tensor | None = None,
        positives: Any = None,
        negatives: Any = None,
        coefficient: float = 1.0,
        pool: str = "mean",
    ) -> None:
        super().__init__(adapter)
        (self.layer,) = select_layers(adapter, layer, "steering_vector")
        if vector is None:
            if positives is None or negatives is None:
                raise ValueError("steering_vector: give vector, or positives and negatives")
            vector = steering_vector(adapter, positives, negatives, self.layer, pool)
        v = torch.as_tensor(vector, dtype=torch.float32).detach().cpu().view(-1)
        if v.numel() != adapter.embed_dim:
            raise ValueError(
                f"steering_vector: vector has {v.numel()} values, model width {adapter.embed_dim}"
            )
        self.register_buffer("vector", v * float(coefficient))

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        return hidden + self.vector.to(hidden.dtype) if index == self.layer else hidden
