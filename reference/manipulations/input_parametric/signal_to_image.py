"""Fixed transforms that turn a 1-D signal into an image (λ fixed, ℓ input, τ parametric; vision).

Cross-modal reuse of frozen image models starts by writing the target input as a picture:

* ``mode="gaf"`` — the Gramian Angular Summation Field of Wang & Oates, "Imaging Time-Series to
  Improve Classification and Imputation" (IJCAI 2015): rescale to ``[-1, 1]``, ``φ = arccos x``,
  image ``cos(φ_i + φ_j)``; series longer than ``gaf_size`` are first averaged piecewise (PAA).
* ``mode="reshape"`` — the signal folded row by row into a square (zero-padded), the
  reshaping used when audio or sensor series are fed to vision models.

Both are fixed functions of the input (no parameters): the operator is a transformation ``g(x)``,
hence parametric in the taxonomy. Output: ``(B, 3, H, W)`` in ``[0, 1]`` at the source resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter

MODES = ("gaf", "reshape")


@register_manipulation("signal_to_image", default_for=("vision",))
class SignalToImage(Manipulation):
    """Fixed 1-D signal to image transform (Gramian Angular Field, Wang & Oates, IJCAI 2015; reshaping). Cell: fixed · input · parametric.

    Args: mode: ``"gaf"`` or ``"reshape"``; gaf_size: GAF side before resizing (default: the
    source side). Input ``(B, T)`` or ``(B, C, T)`` with ``C`` in {1, 3}."""

    cell = ("fixed", "input", "parametric")
    modalities = ("vision",)

    def __init__(self, adapter, mode: str = "gaf", gaf_size: int | None = None) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "signal_to_image")
        if mode not in MODES:
            raise ValueError(
                f"signal_to_image: mode must be one of {', '.join(MODES)}, got {mode!r}"
            )
        self.mode = mode
        self.gaf_size = int(gaf_size or min(adapter.input_size))

    @staticmethod
    def _minmax(x: Tensor) -> Tensor:
        lo = x.amin(-1, keepdim=True)
        hi = x.amax(-1, keepdim=True)
        return (x - lo) / (hi - lo).clamp_min(1e-8)

    def transform_input(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] not in (1, 3):
            raise ValueError(
                f"signal_to_image: expected (B, T) or (B, C, T) with C in (1, 3), got {tuple(x.shape)}"
            )
        x = x.float()
        if self.mode == "gaf":
            if x.shape[-1] > self.gaf_size:
                x = F.adaptive_avg_pool1d(x, self.gaf_size)
            u = self._minmax(x) * 2 - 1  # [-1, 1]
            s = torch.sqrt((1 - u * u).clamp_min(0))
            image = (u.unsqueeze(-1) * u.unsqueeze(-2) - s.unsqueeze(-1) * s.unsqueeze(-2) + 1) / 2
        else:
            t = x.shape[-1]
            side = math.ceil(math.sqrt(t))
            image = F.pad(self._minmax(x), (0, side * side - t)).view(
                x.shape[0], x.shape[1], side, side
            )
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        return F.interpolate(
            image, size=self.adapter.input_size, mode="bilinear", align_corners=False
        )
