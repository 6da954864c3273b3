"""ℓ input, τ additive: pixel perturbations, pad prompters and watermarks, token-space perturbations, markers."""

from .markers import TextMarkers, VisualMarker
from .pad_prompter import PadPrompter
from .perturbation import AdversarialReprogramming, CanvasPerturbation, WatermarkPerturbation
from .token_perturbation import TokenPerturbation

__all__ = [
    "AdversarialReprogramming",
    "CanvasPerturbation",
    "PadPrompter",
    "TextMarkers",
    "TokenPerturbation",
    "VisualMarker",
    "WatermarkPerturbation",
]
