"""Learnable additive perturbations in pixel space (λ learnable, ℓ input, τ additive).

Two placements of the target image, one formula ``x' = X̃ + M ⊙ ε·tanh(W)``:

* ``adversarial_reprogramming`` — Elsayed, Goodfellow & Sohl-Dickstein, "Adversarial Reprogramming
  of Neural Networks" (ICLR 2019): the target image is placed (resized to ``target_size`` if
  given) in the centre of a source-resolution canvas of mid-grey, and the program ``W`` is only
  visible *outside* the target (mask ``M``); ``tanh`` keeps the pixels in range.
* ``watermark_perturbation`` — the full-image variant ("watermarking" in Wang et al., NeurIPS 2022,
  and the ILM-VP / BLM papers; Bahng et al.'s full-image visual prompt): the target is resized to
  the whole source resolution and the bounded perturbation covers every pixel.

Images arrive in ``[0, 1]``; the adapter normalises with the model's mean/std *after* this, so the
perturbation lives in pixel units. ``W`` starts at zero, so the first forward pass shows the plain
(padded) target image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...backbones import _pair
from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter


class CanvasPerturbation(Manipulation):
    """Target image centred on the source canvas plus a bounded learnable perturbation.

    Args:
        target_size: size the target image is resized to before centring (``None``: keep its own
            size, shrunk to the canvas if larger).
        mask: ``"outside"`` (perturb only around the target, Elsayed) or ``"full"`` (every pixel).
        bound: ε, the largest change a pixel can get.
        fill: canvas value around the target (0.5 = Elsayed's zero in ``[-1, 1]`` pixels).
    """

    cell = ("learnable", "input", "additive")
    modalities = ("vision",)

    def __init__(
        self,
        adapter,
        target_size: int | Sequence[int] | None = None,
        mask: str = "outside",
        bound: float = 0.5,
        fill: float = 0.5,
    ) -> None:
        super().__init__(adapter)
        image_adapter(adapter, type(self).__name__)
        if mask not in ("outside", "full"):
            raise ValueError(
                f"{type(self).__name__}: mask must be 'outside' or 'full', got {mask!r}"
            )
        self.canvas = adapter.input_size
        self.target_size = None if target_size is None else _pair(target_size)
        if self.target_size is not None and any(
            t > c for t, c in zip(self.target_size, self.canvas)
        ):
            raise ValueError(
                f"{type(self).__name__}: target_size {self.target_size} exceeds {self.canvas}"
            )
        self.mask_mode = mask
        self.bound = float(bound)
        self.fill = float(fill)
        self.weight = nn.Parameter(torch.zeros(1, 3, *self.canvas))
        # The mask depends only on the target size; built once per size, never learned or saved.
        self._masks: dict[tuple, Tensor] = {}

    def _placement(self, x: Tensor) -> tuple[int, int]:
        if self.target_size is not None:
            return self.target_size
        h, w = x.shape[-2:]
        return (min(h, self.canvas[0]), min(w, self.canvas[1]))

    def _mask(self, size: tuple[int, int], like: Tensor) -> Tensor:
        key = (size, like.device, like.dtype)
        mask = self._masks.get(key)
        if mask is None:
            mask = torch.ones(1, 1, *self.canvas, device=like.device, dtype=like.dtype)
            if self.mask_mode == "outside":
                top, left = (self.canvas[0] - size[0]) // 2, (self.canvas[1] - size[1]) // 2
                mask[..., top : top + size[0], left : left + size[1]] = 0
            self._masks[key] = mask
        return mask

    def transform_input(self, x: Tensor) -> Tensor:
        size = self._placement(x)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if size != self.canvas:
            top, left = (self.canvas[0] - size[0]) // 2, (self.canvas[1] - size[1]) // 2
            bottom, right = self.canvas[0] - size[0] - top, self.canvas[1] - size[1] - left
            x = F.pad(x, (left, right, top, bottom), value=self.fill)
        delta = self.bound * torch.tanh(self.weight)
        if self.mask_mode == "outside":
            delta = delta * self._mask(size, delta)
        return x + delta

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, canvas={self.canvas}, target_size={self.target_size}, mask={self.mask_mode}"


@register_manipulation(
    "adversarial_reprogramming", default_for=("vision",), papers=("elsayed2019adversarial",),
    fidelity="faithful",
)
class AdversarialReprogramming(CanvasPerturbation):
    """Elsayed, Goodfellow & Sohl-Dickstein (ICLR 2019): a bounded program around the centred target. Cell: learnable · input · additive.

    The target keeps its size (or ``target_size``) in the middle of a mid-grey canvas; the
    program is masked out over it."""

    def __init__(self, adapter, target_size=None, bound: float = 0.5, fill: float = 0.5) -> None:
        super().__init__(adapter, target_size=target_size, mask="outside", bound=bound, fill=fill)


@register_manipulation("watermark_perturbation")
class WatermarkPerturbation(CanvasPerturbation):
    """Full-image watermark perturbation (Wang et al., NeurIPS 2022; ILM-VP, CVPR 2023; BLM, 2024). Cell: learnable · input · additive.

    The target is resized to the source resolution; a bounded perturbation on every pixel."""

    def __init__(self, adapter, target_size=None, bound: float = 1.0) -> None:
        super().__init__(
            adapter, target_size=target_size or adapter.input_size, mask="full", bound=bound
        )
