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


# --------------------------------------------------------------------------------------------
# Facets shared by the collections: domains, backbones, metrics, and the kinds of entries.
#
# Like the axes above, each vocabulary is defined once here; the JSON Schemas, the validator's
# did-you-mean, the renderers and the contributor docs read it, so a new backbone or metric is
# a one-line change in this file.


@dataclass(frozen=True)
class Domain:
    """A data modality a model is pre-trained on (source) or reprogrammed for (target)."""

    key: str
    label: str


DOMAINS: tuple[Domain, ...] = (
    Domain("image", "image"),
    Domain("text", "text"),
    Domain("audio", "speech/audio"),
    Domain("time-series", "time-series"),
    Domain("graph", "graph"),
    Domain("molecule", "molecule/protein"),
    Domain("tabular", "tabular"),
    Domain("video", "video"),
    Domain("3d", "3-D"),
    Domain("multimodal", "multimodal"),
)
DOMAIN_KEYS: tuple[str, ...] = tuple(d.key for d in DOMAINS)


def domain(key: str) -> Domain:
    for d in DOMAINS:
        if d.key == key:
            return d
    raise KeyError(f"domain: unknown value {key!r}; expected one of {', '.join(DOMAIN_KEYS)}")


@dataclass(frozen=True)
class Backbone:
    """A frozen pre-trained model as papers name it: canonical spelling, family and modality.

    ``modality`` is a :data:`DOMAINS` key (what the backbone was pre-trained on), so the
    applications table can say "image → audio" without asking every paper to repeat it.
    """

    name: str
    family: str
    modality: str


def _family(family: str, modality: str, *names: str) -> tuple[Backbone, ...]:
    return tuple(Backbone(n, family, modality) for n in names)


#: Canonical backbone names (the facets in CONTRIBUTING.md); add a new one to its family's line.
#: A family's plain name (``CLIP``, ``BERT``, ``ViT``) is for papers whose sources name the
#: family but not the size; ``(from scratch)`` marks an architecture the authors trained.
BACKBONES: tuple[Backbone, ...] = (
    # image
    *_family("ResNet", "image", "ResNet-18", "ResNet-50", "ResNet-50 v2", "ResNet-101",
             "Wide ResNet-50-2", "ResNeXt-101"),
    *_family("BiT", "image", "BiT-M R50x1"),
    *_family("Inception", "image", "Inception-v3"),
    *_family("EfficientNet", "image", "EfficientNet-B0", "EfficientNet-Lite0"),
    *_family("ViT", "image", "ViT", "ViT-B/16", "ViT-B/32", "ViT-L/16", "ViT-H/14", "MAE ViT-B/16",
             "ViT 3x64 (digits 0-4)"),
    *_family("Swin", "image", "Swin-B"),
    *_family("ConvNeXt", "image", "ConvNeXt-B"),
    *_family("SegFormer", "image", "SegFormer MiT-B4"),
    *_family("MAE-VQGAN", "image", "MAE-VQGAN"),
    *_family("MaskGIT", "image", "MaskGIT"),
    *_family("GAN", "image", "GAN"),
    # multimodal
    *_family("CLIP", "multimodal", "CLIP", "CLIP RN50", "CLIP RN101", "CLIP ViT-B/32",
             "CLIP ViT-B/16", "CLIP ViT-L/14"),
    *_family("OpenCLIP", "multimodal", "OpenCLIP ViT-H/14"),
    *_family("EVA-CLIP", "multimodal", "EVA-CLIP ViT-g/14"),
    *_family("BLIP-2", "multimodal", "BLIP-2"),
    *_family("Flamingo", "multimodal", "Flamingo"),
    *_family("LLaVA", "multimodal", "LLaVA"),
    *_family("MiniGPT-4", "multimodal", "MiniGPT-4"),
    *_family("SPHINX", "multimodal", "SPHINX-v2-1k"),
    *_family("GPT-4V", "multimodal", "GPT-4V"),
    *_family("Latent Diffusion", "multimodal", "Latent Diffusion", "Stable Diffusion"),
    # text
    *_family("BERT", "text", "BERT", "BERT-base", "BERT-large"),
    *_family("TinyBERT", "text", "TinyBERT"),
    *_family("RoBERTa", "text", "RoBERTa", "RoBERTa-base", "RoBERTa-large"),
    *_family("DeBERTa", "text", "DeBERTa"),
    *_family("ALBERT", "text", "ALBERT"),
    *_family("MiniLM", "text", "all-MiniLM-L6-v2"),
    *_family("BART", "text", "BART"),
    *_family("T5", "text", "T5", "T5-base", "T5-large", "T5-XXL", "T5-11B"),
    *_family("Flan-T5", "text", "Flan-T5-large", "Flan-T5-XL", "Flan-T5-XXL"),
    *_family("UL2", "text", "UL2"),
    *_family("GPT", "text", "GPT-2", "GPT-2 Large", "GPT-2 XL", "GPT-2 (from scratch)", "GPT-3",
             "Codex", "InstructGPT", "GPT-3.5 Turbo", "GPT-4"),
    *_family("GPT-J", "text", "GPT-J 6B"),
    *_family("GPT-Neo", "text", "GPT-Neo 2.7B"),
    *_family("GPT-NeoX", "text", "GPT-NeoX", "GPT-NeoX 20B"),
    *_family("Fairseq dense LM", "text", "Fairseq dense LM 1.3B", "Fairseq dense LM 2.7B"),
    *_family("Megatron-LM", "text", "Megatron-LM 11B"),
    *_family("OPT", "text", "OPT", "OPT 2.7B", "OPT 6.7B"),
    *_family("BLOOM", "text", "BLOOM"),
    *_family("PaLM", "text", "PaLM 540B", "PaLM 2-S", "PaLM 2-M", "PaLM 2-L"),
    *_family("LaMDA", "text", "LaMDA 137B"),
    *_family("LLaMA", "text", "LLaMA", "LLaMA 7B", "LLaMA-2 7B", "LLaMA-2 13B", "LLaMA-2 70B",
             "LLaMA-2-Chat 7B", "LLaMA-2-Chat 13B", "LLaMA-2-Chat 70B", "Alpaca 7B",
             "Vicuna 7B", "Vicuna 13B"),
    *_family("Mistral", "text", "Mistral 7B"),
    *_family("Falcon", "text", "Falcon 7B"),
    *_family("Gemma", "text", "Gemma 7B"),
    *_family("Claude", "text", "Claude 2"),
    *_family("LSTM", "text", "LSTM"),
    # audio
    *_family("wav2vec 2.0", "audio", "wav2vec 2.0"),
    *_family("HuBERT", "audio", "HuBERT"),
    *_family("AST", "audio", "AST"),
    *_family("AttRNN", "audio", "AttRNN"),
    *_family("Conformer", "audio", "Conformer RNN-T"),
    *_family("GSLM", "audio", "GSLM"),
    # graph
    *_family("GNN", "graph", "GCN", "GAT", "GIN", "GraphSAGE", "Graph Transformer"),
)
BACKBONE_NAMES: tuple[str, ...] = tuple(b.name for b in BACKBONES)
BACKBONES_BY_NAME: dict[str, Backbone] = {b.name: b for b in BACKBONES}


@dataclass(frozen=True)
class Metric:
    """An evaluation metric: its admissible range and which direction is better.

    ``maximum`` None means unbounded above. Percentages are stored as percentages (0-100), as
    papers' tables print them, so a value of 0.655 for top-1 accuracy is almost surely a slip.
    """

    name: str
    minimum: float
    maximum: float | None
    higher_is_better: bool
    description: str

    @property
    def range_text(self) -> str:
        """``[0, 100]`` or ``>= 0``, as messages and docs print the range."""
        if self.maximum is None:
            return f">= {self.minimum:g}"
        return f"[{self.minimum:g}, {self.maximum:g}]"

    def admits(self, value: float) -> bool:
        return value >= self.minimum and (self.maximum is None or value <= self.maximum)


def _percent(name: str, description: str) -> Metric:
    return Metric(name, 0.0, 100.0, True, description + " (percent)")


METRICS: tuple[Metric, ...] = (
    _percent("top-1 accuracy", "Share of test examples whose highest-scoring class is correct"),
    _percent("top-5 accuracy", "Share of test examples whose correct class is among the five "
             "highest-scoring"),
    _percent("accuracy", "Share of test examples answered correctly"),
    _percent("balanced accuracy", "Mean of the per-class recalls"),
    _percent("F1", "Harmonic mean of precision and recall"),
    _percent("macro-F1", "F1 averaged over classes with equal weight"),
    _percent("mIoU", "Mean intersection over union across classes"),
    _percent("exact match", "Share of answers that match the reference exactly"),
    _percent("AUROC", "Area under the ROC curve"),
    Metric("MSE", 0.0, None, False, "Mean squared error"),
    Metric("MAE", 0.0, None, False, "Mean absolute error"),
    Metric("WER", 0.0, None, False, "Word error rate (percent; can exceed 100)"),
    _percent("harmonic mean", "Harmonic mean of the base-class and novel-class accuracies in "
             "base-to-novel generalisation"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


# Kinds of entries in the non-paper collections (each schema/<collection>.schema.json lists them).
DATASET_KINDS: tuple[str, ...] = ("dataset", "suite")
TOOL_KINDS: tuple[str, ...] = ("library", "framework", "official code")
RESOURCE_KINDS: tuple[str, ...] = (
    "survey", "tutorial", "talk", "course", "lecture notes", "blog post", "book",
)
#: Where a result comes from: a paper's table, or a run of this repository's reference code.
SOURCE_KINDS: tuple[str, ...] = ("reported", "reproduced")
