"""Padding prompt: a learnable frame around the shrunken target image
(λ learnable, ℓ input, τ concatenative).

Shrink and frame, as AutoVP (Tsao et al., ICLR 2024) builds its visual prompt for CLIP: the target
image is resized to ``S − 2p`` and framed by a learnable border of width ``p``, so the prompt is
new content joined to the image, not added over it (AutoVP pads with zeros and adds an unbounded
masked delta, which on the zero border is the same thing; it also learns the resize scale, which
this module does not). The border is stored as four strips (``2·3·p·S +
2·3·p·(S − 2p)`` parameters) and starts at the model's mean colour plus ``N(0, std²)`` noise,
i.e. ``N(0, 1)`` after normalisation.

Not Bahng et al.'s pad prompter: theirs keeps the full-size image and *adds* the border to it
(``pad_prompter``, input · additive, which also offers ILM-VP's sigmoid-bounded frame).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter


@register_manipulation("padding_prompt", default_for=("vision",))
class PaddingPrompt(Manipulation):
    """Shrink-and-frame padding prompt (AutoVP, Tsao et al., ICLR 2024). Cell: learnable · input · concatenative.

    Args: pad: border width ``p`` in pixels (default: 30 at 224, scaled to the source size)."""

    cell = ("learnable", "input", "concatenative")
    modalities = ("vision",)

    def __init__(self, adapter, pad: int | None = None, init_std: float | None = None) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "padding_prompt")
        h, w = adapter.input_size
        p = int(pad) if pad is not None else max(1, round(30 * min(h, w) / 224))
        if not 0 < 2 * p < min(h, w):
            raise ValueError(f"padding_prompt: pad {p} leaves no room for the image in {h}x{w}")
        self.pad, self.canvas, self.inner = p, (h, w), (h - 2 * p, w - 2 * p)
        std = adapter.std.view(-1)
        scale = float(std.mean()) if init_std is None else float(init_std)
        self.top = nn.Parameter(torch.randn(1, 3, p, w) * scale)
        self.bottom = nn.Parameter(torch.randn(1, 3, p, w) * scale)
        self.left = nn.Parameter(torch.randn(1, 3, h - 2 * p, p) * scale)
        self.right = nn.Parameter(torch.randn(1, 3, h - 2 * p, p) * scale)
        frame = torch.ones(1, 1, h, w)
        frame[..., p : h - p, p : w - p] = 0
        # The border's resting colour: the model's mean, i.e. zero after normalisation.
        self.register_buffer(
            "base", frame * adapter.mean.detach().cpu().view(1, -1, 1, 1), persistent=False
        )

    def prompt(self) -> Tensor:
        """The frame ``(1, 3, H, W)``, zero where the image goes."""
        hole = self.left.new_zeros(1, 3, *self.inner)
        middle = torch.cat([self.left, hole, self.right], dim=3)
        return torch.cat([self.top, middle, self.bottom], dim=2) + self.base

    def transform_input(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.inner:
            x = F.interpolate(x, size=self.inner, mode="bilinear", align_corners=False)
        p = self.pad
        return F.pad(x, (p, p, p, p)) + self.prompt()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pad={self.pad}, canvas={self.canvas}"
