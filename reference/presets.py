"""Named presets: a manipulation, an alignment and the settings a paper fixes for them.

A paper's ``reference`` in ``data/papers.yaml`` names its registry implementations and, where the
paper fixes settings that differ from their defaults, a preset. ``build_preset(name, model,
num_classes)`` assembles it like ``registry.build``; keyword arguments given there are merged over
the preset's (so a test can shrink a pad without losing the frame type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .core import Reprogrammed


@dataclass(frozen=True)
class Preset:
    """One named setting of a (manipulation, alignment) pair, and the papers that fix it."""

    manipulation: str
    alignment: str
    papers: tuple[str, ...]
    description: str
    manipulation_kwargs: dict[str, Any] = field(default_factory=dict)
    alignment_kwargs: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "ilm_vp": Preset(
        "pad_prompter", "ilm", ("chen2023understanding",),
        "ILM-VP: shrink, zero-pad and add a sigmoid-bounded frame; iterative label mapping",
        manipulation_kwargs={"frame": "sigmoid"},
    ),
    "bahng_pad_prompter": Preset(
        "pad_prompter", "class-assignment", ("bahng2022exploring",),
        "Bahng et al. on a vision-only model: a border added to the full image, source classes "
        "assigned to target classes before training",
        manipulation_kwargs={"frame": "additive"},
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


def build_preset(name: str, model: nn.Module, num_classes: int, **kwargs: Any) -> Reprogrammed:
    """``registry.build`` with the preset's names and settings (``kwargs`` merged over them)."""
    from .registry import build

    preset = get_preset(name)
    merged = {
        "manipulation_kwargs": {**preset.manipulation_kwargs, **(kwargs.pop("manipulation_kwargs", None) or {})},
        "alignment_kwargs": {**preset.alignment_kwargs, **(kwargs.pop("alignment_kwargs", None) or {})},
    }
    return build(preset.manipulation, preset.alignment, model, num_classes, **merged, **kwargs)
