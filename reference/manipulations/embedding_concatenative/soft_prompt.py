"""Soft prompt tokens prepended in embedding space (λ learnable, ℓ embedding, τ concatenative).

* Text: prompt tuning — Lester, Al-Rfou & Constant, "The Power of Scale for Parameter-Efficient
  Prompt Tuning" (EMNLP 2021): ``length`` free vectors prepended to the frozen word embeddings;
  the adapter extends the attention mask and moves the answer position.
* Vision: VPT-shallow — Jia et al., "Visual Prompt Tuning" (ECCV 2022): prompts inserted after the
  class/register tokens, after the position embedding (prompts have no position); the adapter
  drops them before the head, so ``global_pool`` sees exactly the original tokens.

Initialisation: ``"normal"`` (small normal, std 0.02, the default), ``"uniform"`` (VPT's Xavier
uniform bound ``sqrt(6 / (3·p² + D))``, ViTs only) or ``"vocab"`` (Lester et al.'s best: the
embeddings of random vocabulary tokens, text only).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import insert_tokens


def init_prompts(adapter, shape: tuple[int, ...], init: str, std: float) -> Tensor:
    """Prompt vectors of ``shape`` (last dim ``D``) initialised as the papers do."""
    if init == "normal":
        return torch.randn(*shape) * std
    if init == "uniform":
        if adapter.modality != "vision":
            raise ValueError("prompt init 'uniform' (VPT) needs a ViT")
        p = adapter.patch_size
        bound = math.sqrt(6.0 / float(3 * p[0] * p[1] + shape[-1]))
        return torch.empty(*shape).uniform_(-bound, bound)
    if init == "vocab":
        if adapter.modality != "text":
            raise ValueError("prompt init 'vocab' (Lester et al.) needs a text model")
        table = adapter.vocab_embeddings.detach()
        ids = torch.randint(0, table.shape[0], shape[:-1])
        return table[ids].clone().float().cpu()
    raise ValueError(f"prompt init must be 'normal', 'uniform' or 'vocab', got {init!r}")


@register_manipulation(
    "soft_prompt", default_for=("vision", "text"), papers=("lester2021power", "jia2022visual"),
    fidelity="faithful",
)
class SoftPrompt(Manipulation):
    """Soft prompts: prompt tuning (Lester et al., EMNLP 2021) and VPT-shallow (Jia et al., ECCV 2022). Cell: learnable · embedding · concatenative."""

    cell = ("learnable", "embedding", "concatenative")
    needs_tokens = True

    def __init__(
        self, adapter, length: int = 10, init: str = "normal", init_std: float = 0.02
    ) -> None:
        super().__init__(adapter)
        self.length = int(length)
        self.prompts = nn.Parameter(
            init_prompts(adapter, (self.length, adapter.embed_dim), init, init_std)
        )

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        return insert_tokens(embed(x), self.prompts, self.adapter.prompt_offset)
