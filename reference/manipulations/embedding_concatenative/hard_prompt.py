"""Fixed prompt content prepended in embedding space (λ fixed, ℓ embedding, τ concatenative).

The frozen model's *own* embeddings of fixed content, joined to the query's embeddings:

* Text: the embeddings of a hand-written prompt's token ids — the discrete ("hard") prompt
  baseline of prompt-tuning papers (Lester et al. 2021; Liu et al., P-tuning, 2021) written at the
  embedding layer, where it can be mixed with other embedding-level methods. They are looked up
  from the frozen table at every call, never copied into the manipulation.
* Vision: the patch tokens of fixed exemplar images (the embedding-space counterpart of tiling
  exemplars beside the query), computed once with the frozen patch embedding and inserted after
  the class token; the adapter removes them before the head.

No parameters; the vision tokens are a non-persistent buffer (recomputable from the images).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import insert_tokens


@register_manipulation("hard_prompt", default_for=("vision", "text"))
class HardPrompt(Manipulation):
    """Fixed hard-prompt embeddings prepended (the discrete-prompt baseline of Lester et al. 2021 / P-tuning). Cell: fixed · embedding · concatenative.

    Args: prompt_ids (text) — token ids of the prompt; images (vision) — ``(K, 3, h, w)`` in ``[0, 1]``."""

    cell = ("fixed", "embedding", "concatenative")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        prompt_ids: Sequence[int] | Tensor | None = None,
        images: Tensor | None = None,
    ) -> None:
        super().__init__(adapter)
        if adapter.modality == "text":
            if prompt_ids is None:
                raise ValueError("hard_prompt: a text model needs prompt_ids")
            ids = torch.as_tensor(prompt_ids, dtype=torch.long).view(-1)
            if ids.numel() == 0:
                raise ValueError("hard_prompt: prompt_ids is empty")
            self.register_buffer("prompt_ids", ids)
        else:
            if images is None:
                raise ValueError("hard_prompt: a vision model needs images")
            images = adapter.to_device(torch.as_tensor(images, dtype=torch.float32))
            with torch.no_grad():
                tokens = adapter.embed(adapter.normalize(adapter.fit(images)))[
                    :, adapter.prompt_offset :
                ]
            self.register_buffer(
                "tokens", tokens.reshape(-1, tokens.shape[-1]).cpu().clone(), persistent=False
            )

    def prompt_tokens(self) -> Tensor:
        if self.adapter.modality == "text":
            return self.adapter.embedding(self.prompt_ids)
        return self.tokens

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        return insert_tokens(embed(x), self.prompt_tokens(), self.adapter.prompt_offset)
