"""Minimal reference implementations of every method family of neural network reprogrammability.

``y = O_ω(f(I_{λ,ℓ,τ}(x)))`` with ``f`` frozen: build one by registry names,

>>> import timm, reference
>>> model = timm.create_model("resnet18", num_classes=1000)          # doctest: +SKIP
>>> rp = reference.build("padding_prompt", "linear", model, num_classes=10)  # doctest: +SKIP

Importing this package never imports ``transformers`` (text backbones are an optional extra); the
implementations register themselves when the registry is first queried.
"""

from .backbones import Adapter, ImageAdapter, TextAdapter, ViTAdapter, adapt
from .core import MODALITIES, Alignment, Cell, Manipulation, Reprogrammed, TokenBatch
from .presets import PRESETS, build_preset
from .registry import (
    build,
    create_alignment,
    create_manipulation,
    default_alignment,
    default_manipulation,
    get_alignment,
    get_manipulation,
    list_alignments,
    list_manipulations,
    register_alignment,
    register_manipulation,
)

__all__ = [
    "MODALITIES",
    "PRESETS",
    "Adapter",
    "Alignment",
    "Cell",
    "ImageAdapter",
    "Manipulation",
    "Reprogrammed",
    "TextAdapter",
    "TokenBatch",
    "ViTAdapter",
    "adapt",
    "build",
    "build_preset",
    "create_alignment",
    "create_manipulation",
    "default_alignment",
    "default_manipulation",
    "get_alignment",
    "get_manipulation",
    "list_alignments",
    "list_manipulations",
    "register_alignment",
    "register_manipulation",
]
