"""The taxonomy's vocabulary: the one place that says which axes and values exist.

Every method in the field is written ``y = O_ω ∘ f ∘ I_{λ,ℓ,τ}(x)`` with a frozen model ``f``
(survey arXiv 2506.04650). The JSON Schema (``schema.py``), the renderer and its templates, the
docs and the reference registry (``reference/registry.py``) all read the axes and values from
here, so adding a value is a one-file change that every consumer picks up (and the tests then
demand a reference implementation for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Iterator


@dataclass(frozen=True)
class Value:
    """One admissible value of an axis, e.g. ``additive`` on the operator axis."""

    key: str
    label: str
    definition: str
    examples: str


@dataclass(frozen=True)
class Axis:
    """One of the four axes; ``field`` is the key papers use in ``data/papers.yaml``."""

    field: str
    name: str
    symbol: str
    question: str
    values: tuple[Value, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(v.key for v in self.values)

    def value(self, key: str) -> Value:
        for v in self.values:
            if v.key == key:
                return v
        raise KeyError(f"{self.field}: unknown value {key!r}; expected one of {', '.join(self.keys)}")


CONFIGURATION = Axis(
    field="configuration",
    name="Configuration",
    symbol="λ",
    question="Is the input manipulation optimised on target data, or specified by hand?",
    values=(
        Value(
            "learnable",
            "Learnable",
            "The manipulation has parameters fitted on labelled target-task data: by gradients "
            "through the frozen model, by zeroth-order estimates when the model is a black box, "
            "or by probes fitted to its activations.",
            "adversarial reprogramming, visual prompts, soft prompts, prefix tuning",
        ),
        Value(
            "fixed",
            "Fixed",
            "The manipulation is written by hand or computed in closed form without fitting "
            "anything: templates, demonstrations, markers, or vectors taken as means, "
            "differences or principal directions of activations.",
            "in-context learning, chain-of-thought, visual markers, fixed steering vectors",
        ),
    ),
)

LOCATION = Axis(
    field="location",
    name="Location",
    symbol="ℓ",
    question="Where does the manipulation touch the model?",
    values=(
        Value(
            "input",
            "Input space",
            "The raw input the model would normally receive: pixels, waveforms, graphs, or text "
            "before tokenisation and embedding.",
            "pixel perturbations, padding prompts, demonstrations in the prompt text",
        ),
        Value(
            "embedding",
            "Embedding space",
            "The token or patch embeddings after the model's input embedding layer and before its "
            "first block.",
            "soft prompt tokens, VPT-shallow, reprogramming layers into the token space",
        ),
        Value(
            "hidden",
            "Hidden space",
            "Intermediate activations inside the model: per-layer tokens, keys and values, or "
            "residual-stream states.",
            "prefix tuning, P-tuning v2, VPT-deep, representation interventions",
        ),
    ),
)

OPERATOR = Axis(
    field="operator",
    name="Operator",
    symbol="τ",
    question="How does the manipulation combine with what it touches?",
    values=(
        Value(
            "additive",
            "Additive",
            "A perturbation is added to the representation, x' = x + M ⊙ δ, optionally restricted "
            "by a mask M.",
            "Elsayed-style perturbations, watermark prompts, steering vectors",
        ),
        Value(
            "concatenative",
            "Concatenative",
            "Extra content is joined to the representation: tokens prepended, a border framed "
            "around an image, demonstrations placed before a query.",
            "prompt tuning, padding prompts, in-context demonstrations",
        ),
        Value(
            "parametric",
            "Parametric",
            "The representation is passed through a transformation x' = g(x) with its own "
            "parameters: a mask generator, a reprogramming layer, a low-rank intervention. A "
            "pattern generated per input by such a network is parametric even when it is finally "
            "added to the input: τ describes the whole manipulation, not its last step.",
            "sample-specific masks, Time-LLM's patch reprogramming, ReFT",
        ),
    ),
)

ALIGNMENT = Axis(
    field="alignment",
    name="Output alignment",
    symbol="ω",
    question="How are the frozen model's outputs turned into target-task predictions?",
    values=(
        Value(
            "identity",
            "Identity",
            "The model's output is used as it is: the target task shares the source's output space, "
            "or the generated text is read as the answer.",
            "in-context learning, CLIP zero-shot text prompts, prompt tuning with generative outputs",
        ),
        Value(
            "rule-based",
            "Rule-based",
            "A mapping from outputs to target labels fixed before training and not estimated from "
            "the model's outputs: a verbalizer of label words, a class assignment chosen by hand "
            "or at random, or an explicit answer-extraction step of the method (a second "
            "extraction prompt, answer cleansing).",
            "verbalizers, hard-coded or random label mappings, zero-shot CoT's answer extraction",
        ),
        Value(
            "linear",
            "Linear",
            "A trainable linear layer maps the model's logits or features to target labels.",
            "linear heads in VPT, AutoVP's fully connected mapping",
        ),
        Value(
            "statistical",
            "Statistical",
            "A label mapping estimated from the statistics of the model's outputs on target data: "
            "frequency-based, iterative or Bayesian. A random assignment is not estimated from "
            "anything, so it is rule-based.",
            "FLM, ILM, BLM, BLM+",
        ),
    ),
)

#: The four axes, in the order of the formula's subscripts and then ω.
AXES: tuple[Axis, ...] = (CONFIGURATION, LOCATION, OPERATOR, ALIGNMENT)

#: The three axes that describe the input manipulation I_{λ,ℓ,τ}.
MANIPULATION_AXES: tuple[Axis, ...] = (CONFIGURATION, LOCATION, OPERATOR)

AXES_BY_FIELD: dict[str, Axis] = {a.field: a for a in AXES}


@dataclass(frozen=True)
class Paradigm:
    """A named region of the space that the literature treats as one family."""

    key: str
    label: str
    definition: str


PARADIGMS: tuple[Paradigm, ...] = (
    Paradigm(
        "model reprogramming",
        "Model reprogramming",
        "Learn an input transformation, usually in the raw input space, and map the frozen "
        "model's outputs to a new task, often across modalities.",
    ),
    Paradigm(
        "prompt tuning",
        "Prompt tuning",
        "Learn continuous prompt vectors in the embedding or hidden space of a frozen model.",
    ),
    Paradigm(
        "prompt instruction",
        "Prompt instruction",
        "Steer a frozen model with fixed, hand-written inputs: instructions, demonstrations, "
        "chains of thought, visual markers.",
    ),
)

PARADIGM_KEYS: tuple[str, ...] = tuple(p.key for p in PARADIGMS)


def paradigm(key: str) -> Paradigm:
    for p in PARADIGMS:
        if p.key == key:
            return p
    raise KeyError(f"paradigm: unknown value {key!r}; expected one of {', '.join(PARADIGM_KEYS)}")


Cell = tuple[str, str, str]
"""A manipulation cell (λ, ℓ, τ)."""


def manipulation_cells() -> Iterator[Cell]:
    """Every (λ, ℓ, τ) cell, in vocabulary order."""
    return product(*(a.keys for a in MANIPULATION_AXES))


def cell_label(cell: Cell) -> str:
    """Human label such as ``learnable · input · additive``."""
    return " · ".join(cell)
