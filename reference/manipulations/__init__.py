"""Every input manipulation ``I_{λ,ℓ,τ}``, one subpackage per (ℓ, τ) family.

Importing this package registers them all (``reference.registry`` does it on first use). Each
family holds its learnable and fixed references; ``registry.default_manipulation(cell, modality)``
names the one used for a cell on a vision or text backbone.
"""

from . import (
    embedding_additive,
    embedding_concatenative,
    embedding_parametric,
    hidden_additive,
    hidden_concatenative,
    hidden_parametric,
    input_additive,
    input_concatenative,
    input_parametric,
)

__all__ = [
    "embedding_additive",
    "embedding_concatenative",
    "embedding_parametric",
    "hidden_additive",
    "hidden_concatenative",
    "hidden_parametric",
    "input_additive",
    "input_concatenative",
    "input_parametric",
]
