"""Rule-based output alignment (ω = rule-based): mappings written by hand, not learnt from data.

Three forms appear in the literature, and each has a reference here:

* :class:`ClassAssignment` (``"class-assignment"``) — target class ``k`` reads a fixed set of
  source classes ``S_k`` and aggregates their logits (mean or max). Elsayed et al. (2019) map the
  first ten ImageNet classes to the ten target classes; others assign several source classes per
  target ("multi-label mapping").
* :class:`Verbalizer` (``"verbalizer"``) — the text-model form: class ``k`` is represented by
  label words (``"great"`` / ``"terrible"``), whose vocabulary logits at the answer position are
  the class logits (PET, LM-BFF, KPT). Words become token ids through the tokenizer.
* :class:`AnswerExtractor` — for generated text (chain-of-thought, instructions): parse the answer
  from the generation ("the answer is X", ``#### X``, ``\\boxed{X}``, the last number, or the
  last label word). This is not a module on logits — it runs at evaluation on decoded strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..core import Alignment
from ..registry import register_alignment

__all__ = ["AnswerExtractor", "ClassAssignment", "Verbalizer", "normalize_answer"]

_AGGREGATIONS = ("mean", "max", "sum")


def _as_groups(
    assignment: Mapping[int, Sequence[int] | int] | Sequence[Sequence[int] | int] | None,
    num_source: int,
    num_target: int,
    per_class: int,
) -> list[list[int]]:
    """Normalise the many ways of writing an assignment into one list of index lists."""
    if assignment is None:
        if per_class < 1:
            raise ValueError(f"per_class must be ≥ 1; got {per_class}")
        needed = num_target * per_class
        if needed > num_source:
            raise ValueError(
                f"the default assignment gives each of {num_target} target classes {per_class} "
                f"consecutive source classes, which needs {needed} source classes; the model has "
                f"{num_source}"
            )
        return [list(range(k * per_class, (k + 1) * per_class)) for k in range(num_target)]
    if isinstance(assignment, Mapping):
        missing = sorted(set(range(num_target)) - {int(k) for k in assignment})
        extra = sorted(int(k) for k in assignment if not 0 <= int(k) < num_target)
        if missing or extra:
            raise ValueError(
                f"assignment must have exactly the keys 0..{num_target - 1}; "
                f"missing {missing}, unexpected {extra}"
            )
        items = [assignment[k] for k in sorted(assignment, key=int)]
    else:
        items = list(assignment)
        if len(items) != num_target:
            raise ValueError(f"assignment lists {len(items)} classes; expected {num_target}")
    groups: list[list[int]] = []
    for k, item in enumerate(items):
        group = [int(item)] if isinstance(item, int) else [int(i) for i in item]
        if not group:
            raise ValueError(f"assignment for target class {k} is empty")
        bad = [i for i in group if not 0 <= i < num_source]
        if bad:
            raise ValueError(
                f"assignment for target class {k} names source classes {bad} outside [0, {num_source})"
            )
        groups.append(group)
    return groups


@register_alignment("class-assignment", default_for=("vision",))
class ClassAssignment(Alignment):
    """Fixed many-to-one class assignment: ``y_k = agg({f(x)_s : s ∈ S_k})``.

    Args:
        num_source: number of source logits.
        num_target: number of target classes.
        assignment: ``S_k`` for each target class — a list (index ``k``) or a dict ``{k: S_k}``;
            each ``S_k`` an int or a list of ints. ``None`` assigns ``per_class`` consecutive
            source classes to each target class (``per_class=1``: target ``k`` ← source ``k``).
        aggregation: ``"mean"`` (default; differentiable w.r.t. every member), ``"max"`` (the
            strongest member wins) or ``"sum"``.

    The groups are stored as a padded index buffer plus mask, so the rule is part of the state
    dict and the forward pass is one gather.
    """

    kind = "rule-based"

    def __init__(
        self,
        num_source: int,
        num_target: int,
        assignment: Mapping[int, Sequence[int] | int] | Sequence[Sequence[int] | int] | None = None,
        aggregation: str = "mean",
        per_class: int = 1,
    ) -> None:
        super().__init__(num_source, num_target)
        if aggregation not in _AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {', '.join(_AGGREGATIONS)}; got {aggregation!r}"
            )
        self.aggregation = aggregation
        self._register_groups(_as_groups(assignment, self.num_source, self.num_target, per_class))

    def _register_groups(self, groups: list[list[int]]) -> None:
        width = max(len(g) for g in groups)
        index = torch.zeros(len(groups), width, dtype=torch.long)
        mask = torch.zeros(len(groups), width, dtype=torch.bool)
        for k, group in enumerate(groups):
            index[k, : len(group)] = torch.tensor(group)
            mask[k, : len(group)] = True
        self.register_buffer("index", index)
        self.register_buffer("mask", mask)

    @property
    def groups(self) -> list[list[int]]:
        """The assignment as plain lists: ``groups[k]`` are the source classes of target ``k``."""
        return [row[m].tolist() for row, m in zip(self.index, self.mask)]

    def forward(self, source_logits: Tensor) -> Tensor:
        if source_logits.shape[-1] != self.num_source:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_source} source logits; "
                f"got shape {tuple(source_logits.shape)}"
            )
        gathered = source_logits[..., self.index]  # (..., T, width)
        mask = self.mask.expand_as(gathered)
        if self.aggregation == "max":
            return gathered.masked_fill(~mask, float("-inf")).amax(dim=-1)
        total = gathered.masked_fill(~mask, 0.0).sum(dim=-1)
        if self.aggregation == "sum":
            return total
        return total / self.mask.sum(dim=-1).to(total.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, aggregation={self.aggregation!r}"


def _first_subtoken(tokenizer: Any, word: str) -> int:
    encoded = tokenizer(word, add_special_tokens=False)
    ids = (
        encoded["input_ids"]
        if isinstance(encoded, Mapping) or hasattr(encoded, "keys")
        else encoded
    )
    if ids and isinstance(ids[0], list):  # a batch of one
        ids = ids[0]
    if not ids:
        raise ValueError(f"label word {word!r} tokenizes to no tokens")
    return int(ids[0])


@register_alignment("verbalizer", default_for=("text",))
class Verbalizer(ClassAssignment):
    """Verbalizer: class ``k`` is scored by the vocabulary logits of its label word(s).

    The source logits are a language model's vocabulary logits at the answer position (the
    ``[MASK]`` of a masked LM, the last token of a causal LM). Give either

    * ``token_ids`` — per class an id or a list of ids, or
    * ``label_words`` plus a Hugging Face ``tokenizer`` — per class a word or a list of words.

    A label word that splits into several sub-tokens is represented by its **first** sub-token:
    the model scores one position, and the first piece is what it would have to emit first (the
    convention of PET/LM-BFF-style single-token verbalizers). Pick words that are single tokens
    where possible, and mind tokenizer conventions — GPT-2's BPE distinguishes ``" great"`` (with
    the leading space it has mid-sentence) from ``"great"``; the word is tokenised exactly as
    given. Several words per class are aggregated like :class:`ClassAssignment` (default mean).
    """

    modalities = ("text",)

    def __init__(
        self,
        num_source: int,
        num_target: int,
        label_words: Sequence[str | Sequence[str]] | None = None,
        tokenizer: Any = None,
        token_ids: Sequence[int | Sequence[int]] | None = None,
        aggregation: str = "mean",
    ) -> None:
        if token_ids is None:
            if label_words is None or tokenizer is None:
                raise ValueError(
                    "Verbalizer needs token_ids, or label_words together with a tokenizer "
                    "(one entry per target class)"
                )
            if len(label_words) != num_target:
                raise ValueError(
                    f"label_words lists {len(label_words)} classes; expected {num_target}"
                )
            token_ids = [
                [
                    _first_subtoken(tokenizer, w)
                    for w in ([words] if isinstance(words, str) else words)
                ]
                for words in label_words
            ]
        super().__init__(
            num_source, num_target, assignment=list(token_ids), aggregation=aggregation
        )
        #: The words each class was built from (``None`` when built from token ids).
        self.label_words = (
            [[w] if isinstance(w, str) else list(w) for w in label_words] if label_words else None
        )


# ----------------------------------------------------------------------------- answer extraction

# A number as written in prose: optional minus and currency sign, thousands separators, decimals,
# percent. Not preceded by a word character, so "10-5" yields 10 and 5 rather than 10 and -5.
_NUMBER = r"(?<![\w.])-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?"
_NUMBER_RE = re.compile(_NUMBER)
_ANSWER_PATTERNS: tuple[re.Pattern[str], ...] = (
    # \boxed{...} (one level of nested braces is enough for \boxed{\frac{1}{2}})
    re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}"),
    # GSM8K's "#### 72"
    re.compile(r"####\s*([^\n]+)"),
    # "the answer is X", "the final answer is: X", "answer: X", "Answer = X"
    re.compile(
        r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*([^\n]+)",
        re.IGNORECASE,
    ),
)
# A multiple-choice letter: "(c)" in any case, or a bare capital "C" (a bare lower-case "a" is
# too often the article).
_CHOICE_RE = re.compile(r"^(?:\(([A-Ha-h])\)|([A-H]))(?=$|[\s.,;:)])")


def _choice(text: str) -> str | None:
    match = _CHOICE_RE.match(text)
    return (match.group(1) or match.group(2)).upper() if match else None


def normalize_answer(text: str) -> str:
    """Canonical form of an answer string, so that ``"$1,080."`` and ``"1080"`` compare equal.

    Numbers lose currency signs, thousands separators, trailing zeros after the decimal point and
    a trailing full stop (``"3.50" → "3.5"``, ``"5.0" → "5"``); choice letters lose their brackets
    and are upper-cased (``"(c)" → "C"``); other text is lower-cased with surrounding punctuation
    and a leading article removed and whitespace collapsed.
    """
    text = text.strip()
    text = re.sub(r"^\*+|\*+$", "", text).strip()  # markdown bold around the answer
    number = re.fullmatch(r"[-+]?\$?\s?[\d,]*\.?\d+\s?%?\.?", text)
    if number and any(c.isdigit() for c in text):
        value = re.sub(r"[\s$,%+]", "", text).rstrip(".")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        if value in ("-0", ""):
            value = "0"
        return value
    choice = _choice(text)
    if choice and len(text.rstrip(".")) <= 3:
        return choice
    text = text.lower()
    text = re.sub(r"^(?:a|an|the)\s+", "", text.strip())
    text = text.strip(" \t\n.,;:!?\"'`*")
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")):  # a wrapping pair only
        text = text[1:-1].strip()
    return re.sub(r"\s+", " ", text)


class AnswerExtractor:
    """Parse the answer from generated text; optionally map it to a class id.

    Strategy, first hit wins:

    1. ``pattern`` — a user regex; its first group (or the whole match) is the answer. The last
       match in the text is used, since models restate the question before answering.
    2. explicit answer markers — ``\\boxed{X}``, ``#### X``, "the (final) answer is X",
       "Answer: X" (last occurrence). When the marked span starts with a number or a choice
       letter, only that token is kept ("The answer is 72 clips." → ``72``).
    3. with ``labels``: the label mentioned last (whole word; case-insensitive, except that
       one-letter labels such as choice letters must match in case, so the article "a" is not
       read as choice "A"; ``aliases`` add more surface forms per label).
    4. the last number in the text (the chain-of-thought convention of Wei et al. 2022).

    ``extract(text)`` returns the normalised answer string (or ``None``); with ``labels`` given,
    ``to_class(text)`` / ``__call__`` return the class id, ``-1`` when nothing matches, and
    ``batch(texts)`` a long tensor for accuracy computation.
    """

    def __init__(
        self,
        labels: Sequence[str] | None = None,
        *,
        pattern: str | re.Pattern[str] | None = None,
        aliases: Mapping[str, Iterable[str]] | None = None,
        use_markers: bool = True,
        fallback_last_number: bool = True,
        normalize: Callable[[str], str] = normalize_answer,
    ) -> None:
        self.pattern = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        self.use_markers = use_markers
        self.fallback_last_number = fallback_last_number
        self.normalize = normalize
        self.labels = list(labels) if labels is not None else None
        #: normalised answer -> class id (for answers found by markers or patterns)
        self._by_answer: dict[str, int] = {}
        #: surface form as it may appear in text (case-folded unless one letter) -> class id
        self._by_form: dict[str, int] = {}
        self._label_re: re.Pattern[str] | None = None
        if self.labels is None:
            if aliases:
                raise ValueError("aliases need labels")
            return
        forms: list[tuple[str, int]] = [(label, k) for k, label in enumerate(self.labels)]
        for label, extra in (aliases or {}).items():
            if label not in self.labels:
                raise ValueError(
                    f"alias given for unknown label {label!r}; labels are {self.labels}"
                )
            forms.extend((form, self.labels.index(label)) for form in extra)
        for form, k in forms:
            self._register(form, k)
        # Longest forms first, so "very positive" wins over "positive".
        surface = sorted(self._by_form, key=len, reverse=True)
        alternatives = [re.escape(f) if len(f) == 1 else f"(?i:{re.escape(f)})" for f in surface]
        self._label_re = re.compile(r"(?<![\w])(" + "|".join(alternatives) + r")(?![\w])")

    @staticmethod
    def _form_key(form: str) -> str:
        return form if len(form) == 1 else form.casefold()

    def _register(self, form: str, k: int) -> None:
        form = form.strip()
        answer = self.normalize(form)
        if not form or not answer:
            raise ValueError(f"label {form!r} is empty once normalised")
        for table, key in ((self._by_answer, answer), (self._by_form, self._form_key(form))):
            previous = table.setdefault(key, k)
            if previous != k:
                raise ValueError(f"label form {form!r} is ambiguous: classes {previous} and {k}")

    @staticmethod
    def _leading_token(span: str) -> str:
        """From a marked span, keep a leading number or choice letter; else the first clause."""
        span = span.strip().lstrip("*:").strip()
        number = _NUMBER_RE.match(span)
        if number:
            return number.group(0)
        choice = _choice(span)
        if choice:
            return choice
        return re.split(r"(?<=[^\d])[.;!?](?:\s|$)|\n", span, maxsplit=1)[0]

    def _mentions(self, text: str) -> list[int]:
        assert self._label_re is not None
        return [self._by_form[self._form_key(m.group(1))] for m in self._label_re.finditer(text)]

    def _find(self, text: str) -> tuple[str, str] | None:
        """``(normalised answer, raw span)`` of the first strategy that finds one."""
        if self.pattern is not None:
            matches = list(self.pattern.finditer(text))
            if matches:
                last = matches[-1]
                raw = last.group(1) if last.groups() else last.group(0)
                return self.normalize(raw), raw
        if self.use_markers:
            for regex in _ANSWER_PATTERNS:
                matches = list(regex.finditer(text))
                if matches:
                    raw = matches[-1].group(1)
                    answer = self.normalize(self._leading_token(raw))
                    if answer:
                        return answer, raw
        if self._label_re is not None:
            mentions = list(self._label_re.finditer(text))
            if mentions:
                return self.normalize(mentions[-1].group(1)), mentions[-1].group(1)
        if self.fallback_last_number:
            numbers = _NUMBER_RE.findall(text)
            if numbers:
                return self.normalize(numbers[-1]), numbers[-1]
        return None

    def extract(self, text: str) -> str | None:
        """The normalised answer string, or ``None`` when no strategy finds one."""
        found = self._find(text)
        return found[0] if found else None

    def to_class(self, text: str) -> int:
        """Class id of the extracted answer, ``-1`` if none or not a label (needs ``labels``)."""
        if self.labels is None:
            raise ValueError("to_class needs the extractor to be built with labels")
        found = self._find(text)
        if found is None:
            return -1
        answer, raw = found
        if answer in self._by_answer:
            return self._by_answer[answer]
        # A marked span such as "positive, because ..." — take the first label it mentions.
        mentions = self._mentions(raw)
        return mentions[0] if mentions else -1

    def __call__(self, text: str) -> int | str | None:
        return self.to_class(text) if self.labels is not None else self.extract(text)

    def batch(self, texts: Sequence[str]) -> Tensor:
        """Class ids for a batch of generations (``-1`` = unparseable, counted as wrong)."""
        return torch.tensor([self.to_class(t) for t in texts], dtype=torch.long)
