"""Pad prompter: a learnable border *added* to the image (λ learnable, ℓ input, τ additive).

Bahng et al., "Exploring Visual Prompts for Adapting Large-Scale Models" (2022): the image keeps
its full size ``S``; a prompt that is zero in the middle and learnable in a border of width ``p``
is added to it, ``x' = x + v_φ`` (the authors' ``PadPrompter``: four strips, ``N(0, 1)`` init,
``p = 30`` at ``S = 224``). The border pixels of the image are therefore still there under the
prompt. Their prompter runs on normalised images; this module works in ``[0, 1]`` pixels before
the adapter normalises, so ``N(0, 1)`` in normalised units becomes ``N(0, std²)`` here — the same
starting point.

``frame="sigmoid"`` is ILM-VP's frame (Chen et al., CVPR 2023, ``ExpansiveVisualPrompt``): the
target is resized to ``S − 2p``, zero-padded back to ``S`` and ``sigmoid(W) ⊙ M`` is added, ``M``
being 1 on the border; ``W`` starts at zero, so the border starts mid-grey and stays in ``(0, 1)``.
(ILM-VP stores ``W`` for the whole canvas and masks it; only the border's entries ever matter, so
both frames store the border alone, as four strips.)
The shrink-and-frame prompt with an unbounded frame and no image under it is
``padding_prompt`` (input · concatenative).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import image_adapter

FRAMES = ("additive", "sigmoid")


@dataclass
class PadPrompterConfig:
    """Settings of :class:`PadPrompter`."""

    pad: int | None = None  # border width p; None: Bahng's 30 at 224, scaled to the input size
    frame: str = "additive"  # "additive" (Bahng et al.) or "sigmoid" (ILM-VP's bounded frame)

    def __post_init__(self) -> None:
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, got {self.frame!r}")
        if self.pad is not None and int(self.pad) < 1:
            raise ValueError(f"pad must be at least 1, got {self.pad}")


@register_manipulation(
    "pad_prompter",
    papers=("bahng2022exploring", "chen2023understanding"),
    fidelity="faithful",
    config=PadPrompterConfig,
)
class PadPrompter(Manipulation):
    """Pad prompter (Bahng et al., 2022), or ILM-VP's sigmoid frame (Chen et al., CVPR 2023). Cell: learnable · input · additive.

    Args (``PadPrompterConfig``): pad, frame."""

    cell = ("learnable", "input", "additive")
    modalities = ("vision",)

    def __init__(self, adapter, config: PadPrompterConfig) -> None:
        super().__init__(adapter)
        image_adapter(adapter, "pad_prompter")
        h, w = adapter.input_size
        p = int(config.pad) if config.pad is not None else max(1, round(30 * min(h, w) / 224))
        if not 0 < 2 * p < min(h, w):
            raise ValueError(f"pad_prompter: pad {p} leaves no room for the image in {h}x{w}")
        self.pad, self.frame, self.canvas, self.inner = p, config.frame, (h, w), (h - 2 * p, w - 2 * p)
        mask = torch.ones(1, 1, h, w)
        mask[..., p : h - p, p : w - p] = 0
        self.register_buffer("mask", mask, persistent=False)  # 1 on the border   (1, 1, H, W)
        # The border as four strips, 2·3·p·W + 2·3·p·(H − 2p) parameters (Bahng's layout).
        # additive: N(0, 1) in normalised units = N(0, std²) in pixels; sigmoid: zeros, since
        # sigmoid(0) = 0.5 is the mid-grey frame ILM-VP starts from.
        std = adapter.std.detach().cpu().view(1, -1, 1, 1) if self.frame == "additive" else 0.0

        def init(*shape: int) -> Tensor:
            return torch.randn(*shape) * std
        self.pad_up = nn.Parameter(init(1, 3, p, w))
        self.pad_down = nn.Parameter(init(1, 3, p, w))
        self.pad_left = nn.Parameter(init(1, 3, h - 2 * p, p))
        self.pad_right = nn.Parameter(init(1, 3, h - 2 * p, p))

    def prompt(self) -> Tensor:
        """What is added to the (framed) image, ``(1, 3, H, W)``; zero off the border."""
        middle = self.pad_left.new_zeros(1, 3, *self.inner)
        rows = torch.cat([self.pad_left, middle, self.pad_right], dim=3)  # (1, 3, H − 2p, W)
        frame = torch.cat([self.pad_up, rows, self.pad_down], dim=2)  # (1, 3, H, W)
        if self.frame == "sigmoid":
            frame = torch.sigmoid(frame) * self.mask  # sigmoid(0) ≠ 0: keep the middle empty
        return frame

    def transform_input(self, x: Tensor) -> Tensor:
        if self.frame == "additive":  # Bahng: the whole image, border included, under the prompt
            if tuple(x.shape[-2:]) != self.canvas:
                x = F.interpolate(x, size=self.canvas, mode="bilinear", align_corners=False)
        else:  # ILM-VP: shrink, pad with zeros, then add the bounded frame
            if tuple(x.shape[-2:]) != self.inner:
                x = F.interpolate(x, size=self.inner, mode="bilinear", align_corners=False)
            x = F.pad(x, (self.pad,) * 4, value=0.0)
        return x + self.prompt()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pad={self.pad}, frame={self.frame}"
