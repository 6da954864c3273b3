"""Learnable additive perturbation of text in its input space, the one-hot token sequence
(λ learnable, ℓ input, τ additive; text).

The text counterpart of Elsayed et al.'s universal program: a position-wise perturbation ``δ`` of
the one-hot input, ``x' = onehot(ids) + δ[:L]`` with ``δ ∈ R^{max_length × V}``, as in the relaxed
token-space attacks and reprogramming of text classifiers (Neekhara et al., "Adversarial
Reprogramming of Text Classification Neural Networks", EMNLP 2019, learn in this same vocabulary
space). Since the frozen embedding is linear in the one-hot vector, ``x' E = E[ids] + δ E``: the
model receives its own embeddings plus ``δ E`` and no ``(B, L, V)`` tensor is ever built. ``δ``
starts at zero (the unmodified text); positions past ``max_length`` are not perturbed.
"""

from __future__ import annotations

import torch
from torch import nn

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import text_adapter


@register_manipulation("token_perturbation", default_for=("text",))
class TokenPerturbation(Manipulation):
    """Additive perturbation of the one-hot token input (after Neekhara et al., EMNLP 2019). Cell: learnable · input · additive."""

    cell = ("learnable", "input", "additive")
    modalities = ("text",)

    def __init__(self, adapter, max_length: int = 64) -> None:
        super().__init__(adapter)
        text_adapter(adapter, type(self).__name__)
        vocab = adapter.vocab_embeddings.shape[0]
        self.max_length = int(max_length)
        self.delta = nn.Parameter(torch.zeros(self.max_length, vocab))

    def transform_input(self, x) -> TokenBatch:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("token_perturbation: needs input_ids")
        embeds = self.adapter.embedding(batch.input_ids)
        n = min(embeds.shape[1], self.max_length)
        offset = self.delta[:n] @ self.adapter.vocab_embeddings  # (n, D)
        if n < embeds.shape[1]:
            offset = torch.cat([offset, offset.new_zeros(embeds.shape[1] - n, offset.shape[1])])
        return batch.replace(inputs_embeds=embeds + offset)
