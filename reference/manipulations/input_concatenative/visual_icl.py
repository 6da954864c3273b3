"""Visual in-context learning: demonstration images tiled beside the query
(λ fixed, ℓ input, τ concatenative; vision).

Bar et al., "Visual Prompting via Image Inpainting" (NeurIPS 2022) and Zhang et al., "What Makes
Good Examples for Visual In-Context Learning?" (NeurIPS 2023) show a frozen model a grid of
demonstrations with the query in the last cell. The grid of demonstrations is drawn once (a
buffer); each batch only resizes the query into its cell and adds it (one ``pad`` + one add).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter


@register_manipulation("visual_icl_grid", default_for=("vision",))
class VisualICLGrid(Manipulation):
    """Visual in-context grid (Bar et al., NeurIPS 2022; Zhang et al., NeurIPS 2023). Cell: fixed · input · concatenative.

    Args: demonstrations ``(K, 3, h, w)`` in ``[0, 1]`` (e.g. input/output pairs in reading
    order); columns: grid width (default ``ceil(sqrt(K + 1))``); fill: colour of empty cells."""

    cell = ("fixed", "input", "concatenative")
    modalities = ("vision",)

    def __init__(
        self, adapter, demonstrations: Tensor, columns: int | None = None, fill: float = 1.0
    ) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "visual_icl_grid")
        demos = torch.as_tensor(demonstrations, dtype=torch.float32)
        if demos.dim() != 4 or demos.shape[1] != 3 or demos.shape[0] == 0:
            raise ValueError(
                f"visual_icl_grid: demonstrations must be (K, 3, h, w), got {tuple(demos.shape)}"
            )
        k = demos.shape[0]
        cols = int(columns) if columns else math.ceil(math.sqrt(k + 1))
        rows = math.ceil((k + 1) / cols)
        h, w = adapter.input_size
        ch, cw = h // rows, w // cols
        self.cell_size = (ch, cw)
        canvas = torch.full((1, 3, h, w), float(fill))
        cells = F.interpolate(demos, size=(ch, cw), mode="bilinear", align_corners=False)
        for i in range(k):
            r, c = divmod(i, cols)
            canvas[..., r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = cells[i]
        r, c = divmod(k, cols)
        self.query_box = (r * ch, c * cw)
        canvas[..., r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = 0  # the query is added here
        self.register_buffer("canvas", canvas)
        top, left = self.query_box
        self.padding = (left, w - left - cw, top, h - top - ch)

    def transform_input(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.cell_size:
            x = F.interpolate(x, size=self.cell_size, mode="bilinear", align_corners=False)
        return F.pad(x, self.padding) + self.canvas
