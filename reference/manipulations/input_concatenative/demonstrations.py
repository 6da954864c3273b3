"""In-context demonstrations and instructions before the query (λ fixed, ℓ input, τ concatenative; text).

Brown et al., "Language Models are Few-Shot Learners" (NeurIPS 2020) for demonstrations;
Wei et al., "Chain-of-Thought Prompting" (NeurIPS 2022) for demonstrations with rationales;
Kojima et al., "Large Language Models are Zero-Shot Reasoners" (NeurIPS 2022) for the trigger
"Let's think step by step". :class:`PromptBuilder` writes the text (instruction, demonstrations
with optional rationales, the query template); the manipulation prepends the tokenised context to
every query's ids — the frozen model is steered only by what it reads, so nothing is learned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ...core import Manipulation, TokenBatch
from ...registry import register_manipulation
from .._common import text_adapter

COT_TRIGGER = "Let's think step by step."


@dataclass(frozen=True)
class Demonstration:
    """One solved example: its input, its answer, and optionally a rationale (chain of thought)."""

    input: str
    label: str
    rationale: str | None = None


@dataclass
class PromptBuilder:
    """Formats prompt-instruction text: ``instruction``, demonstrations, then the query.

    ``chain_of_thought`` writes each demonstration's rationale before its answer (Wei et al.) and,
    for the query, ends with the zero-shot trigger (Kojima et al.) so the model reasons first.
    """

    instruction: str = ""
    demonstrations: Sequence[Demonstration] = field(default_factory=tuple)
    input_template: str = "Input: {input}"
    answer_template: str = "Answer: {label}"
    answer_prefix: str = "Answer:"
    chain_of_thought: bool = False
    cot_trigger: str = COT_TRIGGER
    separator: str = "\n\n"

    def format_demonstration(self, demo: Demonstration) -> str:
        lines = [self.input_template.format(input=demo.input)]
        if self.chain_of_thought:
            lines.append(
                f"{self.cot_trigger} {demo.rationale}" if demo.rationale else self.cot_trigger
            )
        lines.append(self.answer_template.format(label=demo.label))
        return "\n".join(lines)

    def context(self) -> str:
        """Instruction and demonstrations, ending with the separator that precedes the query."""
        parts = [self.instruction] if self.instruction else []
        parts += [self.format_demonstration(d) for d in self.demonstrations]
        return self.separator.join(parts) + (self.separator if parts else "")

    def query(self, text: str) -> str:
        lines = [self.input_template.format(input=text)]
        if self.chain_of_thought:
            lines.append(self.cot_trigger)
        lines.append(self.answer_prefix)
        return "\n".join(lines)

    def __call__(self, text: str) -> str:
        """The whole prompt for one query."""
        return self.context() + self.query(text)


@register_manipulation(
    "demonstrations", default_for=("text",), papers=("brown2020language", "wei2022chain"),
    fidelity="faithful",
)
class Demonstrations(Manipulation):
    """In-context demonstrations and chain-of-thought prompts (Brown et al., 2020; Wei et al., 2022; Kojima et al., 2022). Cell: fixed · input · concatenative.

    Prepends fixed context token ids (instruction + demonstrations) to every query.

    Args:
        context_ids: the tokenised context, e.g. ``tokenizer(builder.context())["input_ids"]``;
            or give ``builder`` and ``tokenize`` (``str -> list[int]``) to have it built here.
    """

    cell = ("fixed", "input", "concatenative")
    modalities = ("text",)

    def __init__(
        self,
        adapter,
        context_ids: Sequence[int] | Tensor | None = None,
        builder: PromptBuilder | None = None,
        tokenize: Callable[[str], Sequence[int]] | None = None,
    ) -> None:
        super().__init__(adapter)
        text_adapter(adapter, "demonstrations")
        if context_ids is None:
            if builder is None or tokenize is None:
                raise ValueError("demonstrations: give context_ids, or builder and tokenize")
            context_ids = list(tokenize(builder.context()))
        ids = torch.as_tensor(context_ids, dtype=torch.long).view(-1)
        if ids.numel() == 0:
            raise ValueError("demonstrations: the context is empty")
        self.register_buffer("context_ids", ids)

    def transform_input(self, x: Any) -> TokenBatch:
        batch = TokenBatch.coerce(x)
        if batch.input_ids is None:
            raise ValueError("demonstrations: needs input_ids")
        b, n = batch.batch_size, self.context_ids.numel()
        context = self.context_ids.to(batch.input_ids.device).unsqueeze(0).expand(b, -1)
        mask = batch.mask()
        return TokenBatch(
            input_ids=torch.cat([context, batch.input_ids], dim=1),
            attention_mask=torch.cat([mask.new_ones(b, n), mask], dim=1),
            answer_index=None if batch.answer_index is None else batch.answer_index + n,
        )
