"""Fixed concept erasure on hidden states (λ fixed, ℓ hidden, τ parametric).

INLP — Ravfogel et al., "Null It Out" (ACL 2020) — and LEACE — Belrose et al., "LEACE: Perfect
Linear Concept Erasure in Closed Form" (NeurIPS 2023): a fixed projection applied to the residual
stream at chosen blocks, ``h ← h − (h Uᵀ) U``, removing the concept subspace ``U``. ``U`` is given
or, for a binary concept, the difference of the two classes' mean activations: projecting it out
equalises the class means, which is the condition for no linear probe to recover the concept
(LEACE's theorem); LEACE's least-squares-optimal oblique projection additionally whitens, which
this orthogonal reference does not. No parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import mean_difference, orthonormal_rows, select_layers


@register_manipulation("concept_erasure", default_for=("vision", "text"))
class ConceptErasure(Manipulation):
    """Fixed concept erasure on hidden states (INLP, Ravfogel et al., ACL 2020; LEACE, Belrose et al., NeurIPS 2023). Cell: fixed · hidden · parametric.

    Args: layers (blocks whose input is projected; default all); directions ``(k, D)``, or
    positives/negatives (inputs of the two classes; the direction is taken at the first layer)."""

    cell = ("fixed", "hidden", "parametric")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        layers: int | Iterable[int] | None = None,
        directions: Tensor | None = None,
        positives: Any = None,
        negatives: Any = None,
        pool: str = "mean",
    ) -> None:
        super().__init__(adapter)
        self.layers = frozenset(select_layers(adapter, layers, "concept_erasure"))
        if directions is None:
            if positives is None or negatives is None:
                raise ValueError("concept_erasure: give directions, or positives and negatives")
            directions = mean_difference(
                adapter, positives, negatives, layer=min(self.layers), pool=pool
            )
        u = torch.as_tensor(directions, dtype=torch.float32).detach().cpu()
        self.register_buffer("basis", orthonormal_rows(u, adapter.embed_dim, "concept_erasure"))

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        if index not in self.layers:
            return hidden
        u = self.basis.to(hidden.dtype)
        return hidden - (hidden @ u.T) @ u
