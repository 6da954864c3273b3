"""Sample-specific masks for visual reprogramming (λ learnable, ℓ input, τ parametric; vision).

Cai et al., "Sample-specific Masks for Visual Reprogramming-based Prompting" (SMM, ICML 2024):
``x' = r(x) + f_mask(r(x)) ⊙ δ`` — the target image resized to the source resolution ``r(x)``, a
small CNN ``f_mask`` producing a per-sample, per-channel mask at ``1/2^k`` resolution, enlarged by
patch-wise (nearest) interpolation, multiplied with one shared pattern ``δ``. ``δ`` starts at zero,
as in the paper, so training starts from the plain resized image. The transformation is a
function of each sample — a parametric operator, not a fixed additive pattern.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter


class MaskGenerator(nn.Sequential):
    """3×3 conv / ReLU / 2×2 max-pool stages, then a 3-channel 3×3 conv: a mask at ``1/2^pools``."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), pools: int = 3) -> None:
        layers: list[nn.Module] = []
        c = 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            if i < pools:
                layers.append(nn.MaxPool2d(2))
            c = width
        layers.append(nn.Conv2d(c, 3, 3, padding=1))
        super().__init__(*layers)


@register_manipulation("sample_specific_mask", default_for=("vision",))
class SampleSpecificMask(Manipulation):
    """Sample-specific masks, SMM (Cai et al., ICML 2024). Cell: learnable · input · parametric."""

    cell = ("learnable", "input", "parametric")
    modalities = ("vision",)

    def __init__(
        self, adapter, widths: tuple[int, ...] = (16, 32, 64, 128), pools: int = 3
    ) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "sample_specific_mask")
        h, w = adapter.input_size
        if h % 2**pools or w % 2**pools:
            raise ValueError(
                f"sample_specific_mask: source size {h}x{w} not divisible by 2^{pools}"
            )
        self.size = (h, w)
        self.generator = MaskGenerator(tuple(widths), pools)
        self.pattern = nn.Parameter(torch.zeros(1, 3, h, w))

    def transform_input(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        mask = F.interpolate(self.generator(x), size=self.size, mode="nearest")
        return x + mask * self.pattern
