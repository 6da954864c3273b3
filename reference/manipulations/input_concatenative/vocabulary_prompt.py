"""Learned discrete prompt tokens prepended to the text (λ learnable, ℓ input, τ concatenative; text).

AutoPrompt (Shin et al., EMNLP 2020) and PEZ (Wen et al., "Hard Prompts Made Easy", NeurIPS 2023)
learn *tokens* — input-space content — that are placed before the query. Here each of ``length``
prompt positions holds logits ``θ_j`` over the vocabulary; the forward pass feeds the frozen
model the one-hot of ``argmax θ_j`` (a real token, as the papers' prompts are) and the backward
pass uses the softmax's gradient (straight-through, as PEZ's projected gradients do; ``hard=False``
feeds the soft mixture instead). :meth:`tokens` reads the current discrete prompt.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import straight_through, text_adapter


@register_manipulation("vocabulary_prompt", default_for=("text",))
class VocabularyPrompt(Manipulation):
    """Learned discrete prompt tokens (AutoPrompt, Shin et al., EMNLP 2020; PEZ, Wen et al., NeurIPS 2023). Cell: learnable · input · concatenative."""

    cell = ("learnable", "input", "concatenative")
    modalities = ("text",)

    def __init__(self, adapter, length: int = 8, hard: bool = True, init_std: float = 1.0) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "vocabulary_prompt")
        vocab = adapter.vocab_embeddings.shape[0]
        self.length, self.hard = int(length), bool(hard)
        self.logits = nn.Parameter(torch.randn(self.length, vocab) * init_std)

    def tokens(self) -> Tensor:
        """The discrete prompt ``(length,)`` the model currently sees."""
        return self.logits.argmax(-1)

    def transform_input(self, x) -> TokenBatch:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("vocabulary_prompt: needs input_ids")
        b = batch.batch_size
        probs = self.logits.softmax(-1)
        weights = straight_through(probs) if self.hard else probs
        prompt = (weights @ self.adapter.vocab_embeddings).unsqueeze(0).expand(b, -1, -1)
        embeds = torch.cat([prompt, self.adapter.embedding(batch.input_ids)], dim=1)
        ids = torch.cat([self.tokens().unsqueeze(0).expand(b, -1), batch.input_ids], dim=1)
        mask = batch.mask()
        mask = torch.cat([mask.new_ones(b, self.length), mask], dim=1)
        answer = None if batch.answer_index is None else batch.answer_index + self.length
        return TokenBatch(
            input_ids=ids, attention_mask=mask, inputs_embeds=embeds, answer_index=answer
        )
