"""ℓ embedding, τ parametric: Time-LLM reprogramming layers and fixed embedding projections."""

from .projection import EmbeddingProjection
from .reprogramming_layer import ReprogrammingLayer, patch_basis_embeddings

__all__ = ["EmbeddingProjection", "ReprogrammingLayer", "patch_basis_embeddings"]
