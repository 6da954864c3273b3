"""ℓ hidden, τ additive: learned per-layer offsets, fixed steering vectors (ActAdd), function
vectors and in-context vectors."""

from .function_vector import FunctionVector, function_vector, indirect_effects, top_heads
from .in_context_vector import InContextVector, in_context_vector
from .offset import HiddenOffset
from .steering import SteeringVector, steering_vector

__all__ = [
    "FunctionVector",
    "HiddenOffset",
    "InContextVector",
    "SteeringVector",
    "function_vector",
    "in_context_vector",
    "indirect_effects",
    "steering_vector",
    "top_heads",
]
