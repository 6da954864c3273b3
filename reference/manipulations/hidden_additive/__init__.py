"""ℓ hidden, τ additive: learned per-layer offsets and fixed steering vectors (ActAdd)."""

from .offset import HiddenOffset
from .steering import SteeringVector, steering_vector

__all__ = ["HiddenOffset", "SteeringVector", "steering_vector"]
