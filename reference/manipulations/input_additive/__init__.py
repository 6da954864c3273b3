"""ℓ input, τ additive: pixel perturbations and watermarks, token-space perturbations, markers."""

from .markers import TextMarkers, VisualMarker
from .perturbation import AdversarialReprogramming, CanvasPerturbation, WatermarkPerturbation
from .token_perturbation import TokenPerturbation

__all__ = [
    "AdversarialReprogramming",
    "CanvasPerturbation",
    "TextMarkers",
    "TokenPerturbation",
    "VisualMarker",
    "WatermarkPerturbation",
]
