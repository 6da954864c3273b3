"""Scoring the validation set the way the alignment reads the model.

* ``evaluation.mode: logits`` (``train.evaluate``): the aligned logits at the answer position —
  a verbalizer's label-word logits, a linear head's outputs, CLIP's class similarities — and the
  accuracy of their argmax.
* ``evaluation.mode: generate`` (:func:`evaluate_generation`): for identity and rule-based
  alignments over *generated text* — in-context demonstrations, chain-of-thought prompts — the
  frozen model continues the (manipulated) prompt, an :class:`~reference.alignments.rule_based.
  AnswerExtractor` parses the answer from the continuation ("the answer is X", ``#### X``, a label
  word, the last number, or the configured ``pattern``), and the score is exact match against
  the reference after normalisation. Greedy decoding with ``samples: 1``; with ``samples: k``,
  ``k`` continuations sampled at ``temperature`` and the majority answer (self-consistency, Wang
  et al., ICLR 2023; ties go to the answer reached first).

Decoding re-runs the whole sequence through the adapter at every step instead of using a
key/value cache: every manipulation hook (soft prompts, prefixes, steering, interventions) then
acts on generation exactly as on classification, at the cost of ``O(T²)`` for ``T`` new tokens —
affordable for the short answers these evaluations read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from .alignments.rule_based import AnswerExtractor, normalize_answer
from .config import TrainConfig
from .distributed import DistInfo, all_reduce_sums
from .text_data import base_dataset, to_device


@torch.no_grad()
def generate(
    reprogrammed: nn.Module,
    batch: dict[str, Tensor],
    *,
    max_new_tokens: int,
    eos_id: int | None,
    pad_id: int,
    samples: int = 1,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """New token ids per sequence (``samples`` consecutive rows per input when sampling).

    ``batch`` is right-padded; each new token is written after the sequence's last real token
    and the mask extended, so the adapter's answer position (the last real token) moves on.
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if samples > 1:
        ids, mask = ids.repeat_interleave(samples, 0), mask.repeat_interleave(samples, 0)
    ids, mask = ids.clone(), mask.clone()
    n = ids.shape[0]
    rows = torch.arange(n, device=ids.device)
    lengths = mask.sum(1)
    done = torch.zeros(n, dtype=torch.bool, device=ids.device)
    out: list[list[int]] = [[] for _ in range(n)]
    for _ in range(max_new_tokens):
        logits = reprogrammed({"input_ids": ids, "attention_mask": mask}).float()  # (n, V)
        if samples > 1:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            nxt = logits.argmax(-1)
        if int(lengths.max()) >= ids.shape[1]:
            ids = torch.cat([ids, ids.new_full((n, 1), pad_id)], dim=1)
            mask = torch.cat([mask, mask.new_zeros(n, 1)], dim=1)
        live = ~done
        ids[rows[live], lengths[live]] = nxt[live]
        mask[rows[live], lengths[live]] = 1
        lengths = lengths + live.long()
        for i in rows[live].tolist():
            out[i].append(int(nxt[i]))
        if eos_id is not None:
            done |= nxt == eos_id
        if bool(done.all()):
            break
    return out


def majority(answers: list[str | None]) -> str | None:
    """The most frequent parsed answer; ties go to the one reached first; ``None`` if none."""
    found = [a for a in answers if a is not None]
    if not found:
        return None
    counts = Counter(found)
    best = max(counts.values())
    return next(a for a in found if counts[a] == best)


@torch.no_grad()
def evaluate_generation(
    cfg: TrainConfig,
    info: DistInfo,
    reprogrammed: nn.Module,
    loader: DataLoader,
    tokenizer: Any,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Exact match of the extracted answers; returns the summed counts and this rank's
    predictions (``{"where", "generation", "answer", "reference", "correct"}``)."""
    ev = cfg.evaluation
    extractor = AnswerExtractor(labels=cfg.data.classes, pattern=ev.pattern)
    dataset = base_dataset(loader.dataset)
    eos = getattr(tokenizer, "eos_token_id", None)
    from .text_data import pad_id_of

    pad = pad_id_of(tokenizer)
    generator = None
    if ev.samples > 1:
        generator = torch.Generator(device=info.device).manual_seed(cfg.seed * 1000 + info.rank)
    reprogrammed.eval()
    sums = {"correct": 0.0, "n": 0.0}
    predictions: list[dict[str, Any]] = []
    for x, _, index in loader:
        x = to_device(x, info.device)
        new = generate(
            reprogrammed,
            x,
            max_new_tokens=ev.max_new_tokens,
            eos_id=eos,
            pad_id=pad,
            samples=ev.samples,
            temperature=ev.temperature,
            generator=generator,
        )
        for j, i in enumerate(index.tolist()):
            texts = [
                tokenizer.decode(ids, skip_special_tokens=True)
                for ids in new[j * ev.samples : (j + 1) * ev.samples]
            ]
            answer = majority([extractor.extract(t) for t in texts])
            reference = normalize_answer(dataset.answers[i])
            correct = answer is not None and answer == reference
            sums["correct"] += float(correct)
            sums["n"] += 1
            predictions.append(
                {
                    "where": dataset.records[i].where,
                    "generations": texts,
                    "answer": answer,
                    "reference": reference,
                    "correct": correct,
                }
            )
    return all_reduce_sums(sums, info), predictions
