"""A fixed linear projection of the embeddings that removes concept directions
(λ fixed, ℓ embedding, τ parametric).

Bolukbasi et al., "Man is to Computer Programmer as Woman is to Homemaker? Debiasing Word
Embeddings" (NeurIPS 2016), hard debiasing: every embedding is projected onto the orthogonal
complement of a concept subspace ``U``, ``e' = e − (e Uᵀ) U`` — a fixed transformation ``g(e)``
applied to the frozen model's input embeddings (and, here, to a ViT's patch tokens). ``U`` is given,
or is the difference of mean embeddings of two input sets (after which both sets have equal
mean embeddings). No parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import mean_difference, orthonormal_rows


@register_manipulation("embedding_projection", default_for=("vision", "text"))
class EmbeddingProjection(Manipulation):
    """Hard-debias projection of the embeddings (Bolukbasi et al., NeurIPS 2016). Cell: fixed · embedding · parametric.

    Args: directions ``(k, D)``, or positives/negatives to take their mean-embedding difference."""

    cell = ("fixed", "embedding", "parametric")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        directions: Tensor | None = None,
        positives: Any = None,
        negatives: Any = None,
    ) -> None:
        super().__init__(adapter)
        if directions is None:
            if positives is None or negatives is None:
                raise ValueError(
                    "embedding_projection: give directions, or positives and negatives"
                )
            directions = mean_difference(adapter, positives, negatives, layer=None)
        self.register_buffer(
            "basis",
            orthonormal_rows(
                torch.as_tensor(directions, dtype=torch.float32).detach().cpu(),
                adapter.embed_dim,
                "embedding_projection",
            ),
        )

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        tokens = embed(x)
        u = self.basis.to(tokens.dtype)
        return tokens - (tokens @ u.T) @ u
