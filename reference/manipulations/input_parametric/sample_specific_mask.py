"""Sample-specific masks for visual reprogramming (λ learnable, ℓ input, τ parametric; vision).

Cai et al., "Sample-specific Multi-channel Masks for Visual Reprogramming-based Prompting" (SMM,
ICML 2024): ``x' = r(x) + f_mask(r(x)) ⊙ δ`` — the target image resized to the source resolution
``r(x)``, a small CNN ``f_mask`` producing a per-sample, per-channel (3-channel) mask with one
value per ``patch_size × patch_size`` block, enlarged by patch-wise (nearest) interpolation and
multiplied with one shared pattern ``δ``. ``δ`` starts at zero, as in the paper, so training
starts from the plain resized image. The transformation is a function of each sample — a
parametric operator, not a fixed additive pattern.

The generator follows the paper's 5-layer network (3×3 convolutions of width 8, 16, 32, 64 with
ReLU and 2×2 max-pooling, then a 3-channel convolution), with two choices made for speed, since
a reprogramming step should cost little more than the frozen model's own forward/backward pass:
it reads the image after a 2×2 average pool (``input_pool=2``) and pools once less itself, and it
leaves out the paper's batch norm (``batch_norm=False``), which on CPU cost about as much as all
the convolutions together. The mask's resolution is unchanged. ``input_pool=1, batch_norm=True``
builds the paper's network exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter


class MaskGenerator(nn.Module):
    """SMM's mask network: ``[avg-pool] → (conv 3×3, [BN], ReLU, [max-pool 2×2])* → conv 3×3 → 3``.

    The output has ``1 / (input_pool · 2^pools)`` of the input's resolution. It runs in
    channels-last memory format, which oneDNN and cuDNN execute faster for these thin
    convolutions (the values are the same).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (8, 16, 32, 64),
        pools: int = 3,
        input_pool: int = 1,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if pools > len(widths):
            raise ValueError(f"MaskGenerator: {pools} poolings need at least {pools} layers")
        self.input_pool = int(input_pool)
        layers: list[nn.Module] = []
        c = 3
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(c, width, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            if i < pools:
                layers.append(nn.MaxPool2d(2))
            c = width
        layers.append(nn.Conv2d(c, 3, 3, padding=1))
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        if self.input_pool > 1:
            x = F.avg_pool2d(x, self.input_pool)
        return self.net(x.contiguous(memory_format=torch.channels_last))


@register_manipulation(
    "sample_specific_mask", default_for=("vision",), papers=("cai2024sample",), fidelity="faithful"
)
class SampleSpecificMask(Manipulation):
    """Sample-specific masks, SMM (Cai et al., ICML 2024). Cell: learnable · input · parametric.

    Args:
        patch_size: side of the blocks that share one mask value (SMM: 8; default: 8, or a ViT's
            patch size); must be a power of two dividing the source resolution.
        widths: the generator's convolution widths; input_pool, batch_norm: see the module
            docstring.
        pools: the mask's downsampling as a power of two (``pools=3``: one value per 8×8 block);
            an alternative to ``patch_size``.
    """

    cell = ("learnable", "input", "parametric")
    modalities = ("vision",)

    def __init__(
        self,
        adapter,
        patch_size: int | None = None,
        widths: tuple[int, ...] = (8, 16, 32, 64),
        input_pool: int = 2,
        pools: int | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "sample_specific_mask")
        h, w = adapter.input_size
        if pools is not None:
            if patch_size is not None and patch_size != 2**pools:
                raise ValueError("sample_specific_mask: give patch_size or pools, not both")
            patch_size = 2 ** int(pools)
        if patch_size is None:
            patch_size = getattr(adapter, "patch_size", (8, 8))[0]
        patch_size, input_pool = int(patch_size), max(1, int(input_pool))
        pools = math.log2(patch_size / input_pool)
        if patch_size < input_pool or pools != int(pools):
            raise ValueError(
                f"sample_specific_mask: patch_size {patch_size} must be input_pool ({input_pool}) "
                "times a power of two"
            )
        if h % patch_size or w % patch_size:
            raise ValueError(
                f"sample_specific_mask: source size {h}x{w} not divisible by patch_size {patch_size}"
            )
        self.size, self.patch_size = (h, w), patch_size
        self.generator = MaskGenerator(tuple(widths), int(pools), input_pool, batch_norm)
        self.pattern = nn.Parameter(torch.zeros(1, 3, h, w))

    def transform_input(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        mask = self.generator(x)  # (B, 3, H/p, W/p)
        # x + nearest_upsample(mask) ⊙ δ as one fused op on a block view: no upsampled copy.
        b, c, mh, mw = mask.shape
        p = self.patch_size
        out = torch.addcmul(
            x.reshape(b, c, mh, p, mw, p),
            mask.reshape(b, c, mh, 1, mw, 1),
            self.pattern.view(1, c, mh, p, mw, p),
        )
        return out.view(b, c, *self.size)
