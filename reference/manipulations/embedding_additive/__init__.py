"""ℓ embedding, τ additive: learned (DePT-style) and fixed (activation-addition) embedding offsets."""

from .offset import EmbeddingOffset, FixedEmbeddingOffset

__all__ = ["EmbeddingOffset", "FixedEmbeddingOffset"]
