"""Prompt embeddings made by a prompt encoder (λ learnable, ℓ embedding, τ concatenative).

P-tuning — Liu, Zheng, Du, Ding, Qian, Yang & Tang, "GPT Understands, Too" (AI Open 2024; arXiv
2021): the continuous prompt vectors are not free parameters but the output of a small *prompt
encoder* over ``P`` learned inputs, a bidirectional LSTM followed by a two-layer ReLU MLP,

    h_i = MLP([LSTM→(e_{1:i}); LSTM←(e_{i:P})]),

so the prompt vectors are modelled as one sequence that depends on all its parts rather than as
independent vectors. PEFT's ``PromptEncoder`` offers the same LSTM head and an MLP-only variant
(``encoder="mlp"``: Linear → ReLU → Linear → ReLU → Linear); both are here, parameter for
parameter, and ``tests/test_reference_peft.py`` checks that the logits equal PEFT's.

Where the prompts go: prepended to the input, as PEFT does (default), or, as in the paper's
templates, at placeholder tokens written into the text (``placeholder_id``; see ``warp.py``).
After training, ``merge()`` evaluates the encoder once and keeps only its ``(P, D)`` output.

Widths: ``hidden`` defaults to ``D // 2`` for the LSTM (both directions together give ``D``, as
in the authors' code) and to ``D`` for the MLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import Reparametrized, fill_slots, insert_tokens, text_adapter


@dataclass
class PTuningConfig:
    """Settings of :class:`PTuning`."""

    length: int = 10  # virtual tokens P
    encoder: str = "lstm"  # "lstm" (the paper: BiLSTM + MLP) or "mlp" (PEFT's MLP-only head)
    hidden: int | None = None  # encoder width; None: D // 2 (lstm) or D (mlp)
    lstm_layers: int = 2  # stacked bidirectional LSTM layers
    placeholder_id: int | None = None  # None: prepend; else fill these slots of the input

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"length must be at least 1, got {self.length}")
        if self.encoder not in ("lstm", "mlp"):
            raise ValueError(f"encoder must be 'lstm' or 'mlp', got {self.encoder!r}")
        if self.hidden is not None and self.hidden < 1:
            raise ValueError(f"hidden must be at least 1, got {self.hidden}")
        if self.lstm_layers < 1:
            raise ValueError(f"lstm_layers must be at least 1, got {self.lstm_layers}")


class PromptEncoder(nn.Module):
    """``P`` learned inputs -> ``P`` prompt vectors ``(P, D)`` through an (LSTM and) MLP."""

    def __init__(self, config: PTuningConfig, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(config.length, dim))  # (P, D), as nn.Embedding
        if config.encoder == "lstm":
            h = config.hidden or dim // 2
            self.lstm: nn.LSTM | None = nn.LSTM(
                dim, h, num_layers=config.lstm_layers, bidirectional=True, batch_first=True
            )
            self.mlp = nn.Sequential(nn.Linear(2 * h, 2 * h), nn.ReLU(), nn.Linear(2 * h, dim))
        else:
            h = config.hidden or dim
            self.lstm = None
            self.mlp = nn.Sequential(
                nn.Linear(dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, dim)
            )

    def forward(self) -> Tensor:
        h = self.embedding  # (P, D)
        if self.lstm is not None:
            h = self.lstm(h.unsqueeze(0))[0].squeeze(0)  # (P, 2·hidden): both directions
        return self.mlp(h)  # (P, D)


@register_manipulation(
    "p_tuning", papers=("liu2024gpt",), fidelity="faithful", config=PTuningConfig
)
class PTuning(Manipulation):
    """Prompts from an LSTM/MLP prompt encoder, P-tuning (Liu et al., AI Open 2024; arXiv 2021). Cell: learnable · embedding · concatenative."""

    cell = ("learnable", "embedding", "concatenative")
    modalities = ("text",)
    needs_tokens = True

    def __init__(self, adapter, config: PTuningConfig) -> None:
        super().__init__(adapter)
        text = text_adapter(adapter, "p_tuning")
        self.config = config
        self.prompts = Reparametrized(PromptEncoder(config, text.embed_dim))

    def merge(self) -> None:
        """Keep only the encoder's output (for inference); the encoder is dropped."""
        self.prompts.merge()

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        batch = TokenBatch.coerce(x)
        tokens = embed(batch)  # (B, L, D)
        prompts = self.prompts()  # (P, D), computed once per batch
        if self.config.placeholder_id is None:
            return insert_tokens(tokens, prompts, self.adapter.prompt_offset)  # (B, P + L, D)
        if batch.input_ids is None:
            raise ValueError("p_tuning: placeholders need the input as token ids")
        return fill_slots(tokens, batch.input_ids, self.config.placeholder_id, prompts, "p_tuning")
