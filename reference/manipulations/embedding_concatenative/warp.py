"""Prompt tokens around the input of a masked LM (λ learnable, ℓ embedding, τ concatenative).

WARP — Hambardzumyan, Khachatrian & May, "WARP: Word-level Adversarial ReProgramming" (ACL 2021):
``N`` learned word embeddings ``[P_1] … [P_N]`` are inserted before, between and after the
sentences of a masked LM's input, which also holds one ``[MASK]``; the MLM head is applied at the
``[MASK]`` *without* its decoder, and a matrix of learned class embeddings ``[V_1] … [V_K]`` takes
the decoder's place:

    p(y = k | x) ∝ exp(⟨V_k, t(h_[MASK])⟩ + b_k),   t = the MLM head's transform.

Only the prompts and the class embeddings train. The prompts are this manipulation; the class
embeddings are the ``class-embeddings`` alignment (``reference/alignments/linear.py``), which reads
``t(h_[MASK])`` through the adapter's features.

Where the prompts go is written in the input itself: the text carries ``N`` placeholder tokens
(``placeholder_id``, any id the template reserves), e.g. ``[P] [P] sentence [P] [MASK] [P]``, and
each placeholder's embedding is replaced by the next prompt vector, so the sequence length,
attention mask and ``[MASK]`` position stay the text's own.

Initialisation: small normal vectors (std 0.02), or the embeddings of ``N`` given tokens
(``init_ids``; the paper also reports prompts initialised from a human-readable prompt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import fill_slots, text_adapter


@dataclass
class WARPConfig:
    """Settings of :class:`WARP`."""

    placeholder_id: int  # token id that marks the prompt slots in the input
    length: int = 8  # prompt tokens N; every input holds exactly N placeholders
    init_ids: Sequence[int] | None = None  # N token ids whose embeddings start the prompts
    init_std: float = 0.02  # std of the random prompts when init_ids is not given

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"length must be at least 1, got {self.length}")
        if self.init_ids is not None:
            self.init_ids = [int(i) for i in self.init_ids]
            if len(self.init_ids) != self.length:
                raise ValueError(f"{len(self.init_ids)} init_ids for {self.length} prompts")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


@register_manipulation(
    "warp", papers=("hambardzumyan2021warp",), fidelity="faithful", config=WARPConfig
)
class WARP(Manipulation):
    """Prompt embeddings at placeholder slots around the input, WARP (Hambardzumyan et al., ACL 2021). Cell: learnable · embedding · concatenative."""

    cell = ("learnable", "embedding", "concatenative")
    modalities = ("text",)
    needs_tokens = True

    def __init__(self, adapter, config: WARPConfig) -> None:
        super().__init__(adapter)
        text = text_adapter(adapter, "warp")
        self.config = config
        if config.init_ids is not None:
            with torch.no_grad():
                ids = torch.tensor(config.init_ids, device=text.vocab_embeddings.device)
                prompts = text.embedding(ids).float().cpu().clone()  # (N, D)
        else:
            prompts = torch.randn(config.length, text.embed_dim) * config.init_std  # (N, D)
        self.prompts = nn.Parameter(prompts)

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("warp: the input must be token ids holding the placeholder tokens")
        tokens = embed(batch)  # (B, L, D)
        return fill_slots(tokens, batch.input_ids, self.config.placeholder_id, self.prompts, "warp")
