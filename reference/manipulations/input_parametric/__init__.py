"""ℓ input, τ parametric: sample-specific masks, vocabulary mappings, signal imaging, token translation."""

from .sample_specific_mask import MaskGenerator, SampleSpecificMask
from .signal_to_image import SignalToImage
from .token_translation import TokenTranslation
from .vocabulary_mapping import VocabularyMapping

__all__ = [
    "MaskGenerator",
    "SampleSpecificMask",
    "SignalToImage",
    "TokenTranslation",
    "VocabularyMapping",
]
