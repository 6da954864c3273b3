"""Fixed markers drawn onto the input to point at part of it (λ fixed, ℓ input, τ additive).

* ``visual_marker`` — Shtedritski, Rupprecht & Vedaldi, "What does CLIP know about a red circle?"
  (ICCV 2023) and Set-of-Mark prompting (Yang et al. 2023): an ellipse (or box) outline in a fixed
  colour is blended into the image, ``x' = x + α·M ⊙ (c − x)``. Shapes are fixed at construction
  (one mask buffer, built once) or given per sample as boxes with the images.
* ``text_markers`` — the textual counterpart: fixed marker tokens around a span, as the entity
  markers of Baldini Soares et al. ("Matching the Blanks", ACL 2019) and Zhou & Chen (2022). The
  judgement made here: a marker's role is that of the red circle — it highlights content already
  in the input rather than adding content to read — and in token space an overlay can only be
  written as two inserted marker tokens.

Neither owns a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import image_adapter, text_adapter

SHAPES = ("ellipse", "box")


def _outline(boxes: Tensor, height: int, width: int, shape: str, thickness: float) -> Tensor:
    """Masks ``(N, H, W)`` in {0, 1} of shape outlines around normalised boxes ``(N, 4)`` (x0, y0, x1, y1)."""
    ys = (torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5) / height
    xs = (torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5) / width
    y, x = ys.view(1, -1, 1), xs.view(1, 1, -1)
    x0, y0, x1, y1 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    half = thickness / 2
    if shape == "ellipse":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = ((x1 - x0) / 2).clamp_min(1e-6), ((y1 - y0) / 2).clamp_min(1e-6)
        radius = torch.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
        return ((radius - 1).abs() * torch.minimum(rx, ry) <= half).to(boxes.dtype)
    outer = (x >= x0 - half) & (x <= x1 + half) & (y >= y0 - half) & (y <= y1 + half)
    inner = (x > x0 + half) & (x < x1 - half) & (y > y0 + half) & (y < y1 - half)
    return (outer & ~inner).to(boxes.dtype)


@register_manipulation("visual_marker", default_for=("vision",))
class VisualMarker(Manipulation):
    """Red-Circle (Shtedritski et al., ICCV 2023) / Set-of-Mark (Yang et al., 2023) marker overlay. Cell: fixed · input · additive.

    Args:
        boxes: fixed regions ``(x0, y0, x1, y1)`` in ``[0, 1]`` coordinates to mark in every image
            (optional when boxes come with each batch: ``model((images, boxes))``, boxes ``(B, 4)``).
        shape: ``"ellipse"`` (the red circle) or ``"box"``.
        color: RGB in ``[0, 1]``; thickness: line width as a fraction of the image side; alpha: opacity.
    """

    cell = ("fixed", "input", "additive")
    modalities = ("vision",)

    def __init__(
        self,
        adapter,
        boxes: Sequence[Sequence[float]] = (),
        shape: str = "ellipse",
        color: Sequence[float] = (1.0, 0.0, 0.0),
        thickness: float = 0.02,
        alpha: float = 1.0,
    ) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "visual_marker")
        if shape not in SHAPES:
            raise ValueError(
                f"visual_marker: shape must be one of {', '.join(SHAPES)}, got {shape!r}"
            )
        self.shape, self.thickness, self.alpha = shape, float(thickness), float(alpha)
        self.register_buffer("color", torch.tensor(color, dtype=torch.float32).view(1, 3, 1, 1))
        h, w = adapter.input_size
        fixed = torch.zeros(1, 1, h, w)
        if len(boxes):
            b = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
            fixed = _outline(b, h, w, shape, self.thickness).amax(0).view(1, 1, h, w)
        self.register_buffer("mask", fixed * self.alpha)

    def transform_input(self, x: Any) -> Tensor:
        boxes = None
        if isinstance(x, (tuple, list)):
            x, boxes = x
        x = self.adapter.fit(x)
        mask = self.mask
        if boxes is not None:
            h, w = x.shape[-2:]
            per_sample = _outline(
                boxes.to(x.device, x.dtype), h, w, self.shape, self.thickness
            ).unsqueeze(1)
            mask = torch.maximum(mask, per_sample * self.alpha)
        return x + mask * (self.color - x)


@register_manipulation("text_markers", default_for=("text",))
class TextMarkers(Manipulation):
    """Entity markers around a span (Baldini Soares et al., ACL 2019; Zhou & Chen, 2022). Cell: fixed · input · additive.

    Fixed marker tokens around a span of every sequence: ``… [open] span [close] …``.

    Spans come with the batch, ``model((batch, spans))`` or a mapping with a ``"spans"`` entry:
    ``(B, 2)`` token positions ``[start, end)``.
    """

    cell = ("fixed", "input", "additive")
    modalities = ("text",)

    def __init__(self, adapter, open_id: int, close_id: int) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "text_markers")
        self.open_id, self.close_id = int(open_id), int(close_id)

    def transform_input(self, x: Any) -> TokenBatch:
        if isinstance(x, tuple):
            x, spans = x
        elif hasattr(x, "keys") and "spans" in x:
            spans = x["spans"]
        else:
            raise ValueError("text_markers: pass (batch, spans) or a mapping with 'spans' (B, 2)")
        batch = TokenBatch.coerce(x)
        ids, mask = batch.input_ids, batch.mask()
        if ids is None:
            raise ValueError("text_markers: needs input_ids")
        b, length = ids.shape
        spans = torch.as_tensor(spans, device=ids.device).long().view(b, 2)
        start, end = spans[:, :1], spans[:, 1:]
        if bool(((start < 0) | (end < start) | (end > length)).any()):
            raise ValueError("text_markers: spans must satisfy 0 <= start <= end <= length")
        j = torch.arange(length + 2, device=ids.device).expand(b, -1)
        src = torch.where(j < start, j, torch.where(j <= end, j - 1, j - 2)).clamp(0, length - 1)
        is_open, is_close = j == start, j == end + 1
        new_ids = (
            ids.gather(1, src)
            .masked_fill(is_open, self.open_id)
            .masked_fill(is_close, self.close_id)
        )
        new_mask = mask.gather(1, src).masked_fill(is_open | is_close, 1)
        return TokenBatch(input_ids=new_ids, attention_mask=new_mask)
