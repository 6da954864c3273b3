"""Self-consistency: a majority vote over sampled reasoning paths (ω statistical; text).

Wang et al., "Self-Consistency Improves Chain of Thought Reasoning in Language Models" (ICLR
2023): instead of reading one greedy chain of thought, sample ``P`` reasoning paths from the frozen
model, parse each path's final answer with a rule
(:class:`~reference.alignments.rule_based.AnswerExtractor`: "the answer is X", the last label
mentioned, the last number), and answer with the most frequent one — an aggregate of the model's
outputs, hence ω statistical. Unparseable paths do not vote.

This alignment reads generations, not one position's logits: :func:`sample_paths` draws the paths
(through any input manipulation, e.g. chain-of-thought demonstrations), and
:meth:`SelfConsistency.forward` turns the parsed votes ``(B, P)`` into ``log`` vote shares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..core import Alignment, Manipulation, TokenBatch
from ..registry import register_alignment


@torch.no_grad()
def sample_paths(
    adapter: Any,
    inputs: Any,
    num_paths: int,
    manipulation: Manipulation | None = None,
    max_new_tokens: int = 64,
    temperature: float = 0.7,
    top_k: int = 40,
    seed: int | None = None,
) -> list[list[list[int]]]:
    """``P`` sampled continuations per input, as token ids ``[batch][path][tokens]``.

    ``manipulation`` (an input-level one, such as ``demonstrations``) rewrites the prompt first.
    ``temperature`` and ``top_k`` are arguments because the right values depend on the model;
    the defaults are ordinary sampling settings, not a claim about the paper's.
    """
    if num_paths < 1:
        raise ValueError(f"num_paths must be at least 1, got {num_paths}")
    batch = TokenBatch.coerce(inputs)
    if manipulation is not None:
        batch = TokenBatch.coerce(manipulation.transform_input(batch))
    batch = TokenBatch.coerce(adapter.to_device(batch))
    if batch.input_ids is None:
        raise ValueError("sample_paths: the prompt must be token ids")
    if seed is not None:
        torch.manual_seed(seed)
    ids, mask = batch.input_ids, batch.mask()
    out = adapter.model.generate(
        input_ids=ids.repeat_interleave(num_paths, 0),
        attention_mask=mask.repeat_interleave(num_paths, 0),
        do_sample=True,
        temperature=temperature,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        pad_token_id=getattr(adapter.model.config, "eos_token_id", None) or 0,
    )
    new = out[:, ids.shape[1] :].tolist()  # (B·P, T) continuations only
    return [new[b * num_paths : (b + 1) * num_paths] for b in range(ids.shape[0])]


@register_alignment("self_consistency", papers=("wang2023self",), fidelity="faithful")
class SelfConsistency(Alignment):
    """Majority vote over sampled reasoning paths (self-consistency, Wang et al., ICLR 2023).

    ``forward(votes)``: ``votes`` ``(B, P)`` class ids (``-1``: unparseable) -> ``(B, C)`` log vote
    shares (``-inf`` for classes nobody voted for; all ``-log C`` when no path parsed)."""

    kind = "statistical"
    modalities = ("text",)

    def forward(self, votes: Tensor) -> Tensor:
        if votes.is_floating_point():
            raise TypeError(
                "self_consistency votes over sampled generations: pass parsed answers (B, P) "
                "(see SelfConsistency.predict), not one position's logits"
            )
        valid = votes >= 0
        counts = torch.zeros(votes.shape[0], self.num_target, device=votes.device)
        counts.scatter_add_(1, votes.clamp_min(0), valid.float())  # (B, C)
        none = counts.sum(1, keepdim=True) == 0
        counts = torch.where(none, torch.ones_like(counts), counts)
        return (counts / counts.sum(1, keepdim=True)).log()

    def predict(
        self,
        adapter: Any,
        inputs: Any,
        decode: Callable[[Sequence[int]], str],
        extract: Callable[[str], int],
        num_paths: int = 5,
        manipulation: Manipulation | None = None,
        **sampling: Any,
    ) -> Tensor:
        """Sample, parse (``extract(decode(path))`` -> class id or ``-1``) and vote: ``(B, C)``."""
        paths = sample_paths(adapter, inputs, num_paths, manipulation, **sampling)
        votes = torch.tensor([[extract(decode(p)) for p in row] for row in paths])
        return self(votes)
