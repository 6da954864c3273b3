"""Shared support for the reference tests: tiny random backbones, tiny inputs, and one table of
example constructor kwargs and inputs per manipulation.

Imported as ``reference_support`` (pytest puts ``tests/`` on ``sys.path``: it has no
``__init__.py``). Nothing here is downloaded; every backbone is randomly initialised after
``torch.manual_seed(0)``. The cached builders return one shared model per argument set: the
tests that use them either never change the model or check that it stays unchanged.

Where two test files used slightly different copies of a helper (a wider init, another sequence
length, another seed), the difference is a parameter here, so each file keeps its behaviour.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from reference import Alignment

VOCAB = 100  # the tiny language models' vocabulary (= their source logits)
MASK_ID = 3  # the tiny BERT's [MASK] token in most files (test_reference_papers uses 4)
TARGET_VOCAB = 12  # a target-task vocabulary for the text reprogramming of token ids
PLACEHOLDER_ID = 2  # marks prompt slots in the input (WARP); token_batch never draws ids below 5
CLIP_EOT = 59  # the tiny CLIP's end-of-text id: the highest id, as in CLIP's own vocabulary

@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and pytest -n 2 already fills both cores.

    Test modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: The tiny ViT: 32 px images, 8 px patches, 2 blocks of width 32.
VIT_KWARGS: dict[str, Any] = {
    "img_size": 32,
    "patch_size": 8,
    "depth": 2,
    "embed_dim": 32,
    "num_heads": 2,
    "num_classes": 10,
}


class TinyLinear(Alignment):
    """A local linear head, so these tests do not depend on the alignment package."""

    kind = "linear"

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__(num_source, num_target)
        self.fc = nn.Linear(num_source, num_target)

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return self.fc(source_logits)


# ----------------------------------------------------------------------------------------------
# Tiny backbones
# ----------------------------------------------------------------------------------------------
def make_vit(*, from_timm_registry: bool = True, **overrides: Any) -> nn.Module:
    """A fresh (uncached) tiny ViT. ``from_timm_registry`` builds it with
    ``timm.create_model("vit_tiny_patch16_224", ...)``, which attaches that model's
    ``pretrained_cfg`` (and so its normalisation); otherwise ``VisionTransformer`` is called
    directly and the model has no ``pretrained_cfg``."""
    kwargs = dict(VIT_KWARGS)
    kwargs.update(overrides)
    torch.manual_seed(0)
    if from_timm_registry:
        import timm

        return timm.create_model("vit_tiny_patch16_224", pretrained=False, **kwargs).eval()
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(**kwargs).eval()


@functools.cache
def tiny_vit(num_classes: int = 10, from_timm_registry: bool = True) -> nn.Module:
    """The tiny ViT, built once per argument set."""
    return make_vit(from_timm_registry=from_timm_registry, num_classes=num_classes)


@functools.cache
def tiny_resnet() -> nn.Module:
    """timm resnet18 with 10 classes (run at 32 px by the tests)."""
    import timm

    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=10).eval()


@functools.cache
def tiny_bert(max_position_embeddings: int = 512, init_std: float = 0.02) -> nn.Module:
    """A 2-layer, width-32 BERT masked LM over ``VOCAB`` tokens (512 positions and std 0.02
    are ``BertConfig``'s defaults)."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        initializer_range=init_std,
    )
    return transformers.BertForMaskedLM(cfg).eval()


@functools.cache
def tiny_gpt2(
    n_positions: int = 64, n_inner: int | None = None, init_std: float = 0.02
) -> nn.Module:
    """A 2-layer, width-32 GPT-2 causal LM over ``VOCAB`` tokens (``n_inner=None`` and std 0.02
    are ``GPT2Config``'s defaults)."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=n_positions,
        n_inner=n_inner,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=init_std,
    )
    return transformers.GPT2LMHeadModel(cfg).eval()


def tiny_clip_config(vocab: int = 60, bos_id: int = 1, eos_id: int = CLIP_EOT) -> Any:
    """A 2-layer, width-32 CLIP configuration (text: ``vocab`` ids, 32 positions; vision: 32 px
    images, 8 px patches) with 16-dim joint features. The text test files pass their own
    tokenizer's size and special ids."""
    import transformers

    width = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2}
    return transformers.CLIPConfig(
        text_config={**width, "vocab_size": vocab, "max_position_embeddings": 32,
                     "bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": 0},
        vision_config={**width, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )


@functools.cache
def tiny_clip() -> nn.Module:
    """:func:`tiny_clip_config`'s CLIP, randomly initialised after ``torch.manual_seed(0)``."""
    import transformers

    torch.manual_seed(0)
    return transformers.CLIPModel(tiny_clip_config()).eval()


#: The tiny CLIP's class names as token ids (the prompt adds start, "." and end-of-text).
CLIP_CLASS_NAMES: tuple[tuple[int, ...], ...] = ((10, 11), (12,), (13, 14, 15), (16,))


def clip_prompts(
    names: tuple[tuple[int, ...], ...] = CLIP_CLASS_NAMES, context: tuple[int, ...] = ()
) -> dict[str, torch.Tensor]:
    """``[SOS] context name [.] [EOS]`` per class, right-padded: a CLIP tokenizer's output."""
    rows = [[1, *context, *name, 7, CLIP_EOT] for name in names]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, row in enumerate(rows):
        ids[k, : len(row)] = torch.tensor(row)
        mask[k, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


# ----------------------------------------------------------------------------------------------
# Tiny inputs
# ----------------------------------------------------------------------------------------------
def images(n: int = 4, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def token_batch(
    backbone: str,
    n: int = 4,
    seed: int = 2,
    vocab: int = VOCAB,
    mask_id: int = MASK_ID,
    seq_len: int = 8,
    mask_pos: int = 5,
) -> dict[str, torch.Tensor]:
    """Token ids with the last row's last two positions padded (right padding); a BERT batch has
    its [MASK] at ``mask_pos`` of every row."""
    ids = torch.randint(5, vocab, (n, seq_len), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(n, seq_len, dtype=torch.long)
    ids[-1, -2:], mask[-1, -2:] = 0, 0
    if backbone == "bert":
        ids[:, mask_pos] = mask_id
    return {"input_ids": ids, "attention_mask": mask}


def char_tokenize(text: str) -> list[int]:
    """A stand-in tokenizer: one id per character, at most 24."""
    return [5 + ord(c) % (VOCAB - 5) for c in text][:24]


# ----------------------------------------------------------------------------------------------
# Example constructor kwargs and inputs, per manipulation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExampleProfile:
    """What differs between the files that build examples from ``EXAMPLES``."""

    batch: int
    seq_len: int
    mask_id: int
    mask_pos: int  # where a BERT row has its [MASK]
    plain_image_seed: int  # seed of the backbone's plain image batch
    token_perturbation_max_length: int
    padding_prompt_size: int  # size of the image that padding_prompt frames
    signal_seed: int | None  # seed of the raw series; None draws from the global RNG
    demonstrations: str  # "builder" (a PromptBuilder and a tokenizer) or "context_ids"


#: tests/test_reference_manipulations.py: small batches, [MASK] = 3 at position 5.
MANIPULATION_PROFILE = ExampleProfile(
    batch=4,
    seq_len=8,
    mask_id=MASK_ID,
    mask_pos=5,
    plain_image_seed=1,
    token_perturbation_max_length=6,
    padding_prompt_size=32,
    signal_seed=None,
    demonstrations="builder",
)

#: tests/test_reference_papers.py: batches of 8, length 12, [MASK] = 4 near the end.
PAPER_PROFILE = ExampleProfile(
    batch=8,
    seq_len=12,
    mask_id=4,
    mask_pos=-4,  # the answer position of a cloze prompt "... [MASK] ..."
    plain_image_seed=2,
    token_perturbation_max_length=12,
    padding_prompt_size=24,
    signal_seed=4,
    demonstrations="context_ids",
)


class ExampleContext:
    """The inputs an example is made of, for one backbone under one profile."""

    def __init__(self, backbone: str, vision: bool, profile: ExampleProfile) -> None:
        self.backbone = backbone
        self.vision = vision
        self.profile = profile
        self._plain: Any = None

    def images(self, n: int | None = None, size: int = 32, seed: int = 1) -> torch.Tensor:
        return images(self.profile.batch if n is None else n, size, seed)

    def tokens(self, n: int | None = None, seed: int = 2) -> dict[str, torch.Tensor]:
        p = self.profile
        return token_batch(
            self.backbone,
            p.batch if n is None else n,
            seed,
            mask_id=p.mask_id,
            seq_len=p.seq_len,
            mask_pos=p.mask_pos,
        )

    def plain(self) -> Any:
        """The backbone's own inputs (built once per context)."""
        if self._plain is None:
            self._plain = (
                self.images(seed=self.profile.plain_image_seed) if self.vision else self.tokens()
            )
        return self._plain

    def contrast(self) -> dict[str, Any]:
        """Two small sets whose mean difference defines a fixed direction (steering, erasure)."""
        if self.vision:
            return {"positives": self.images(3, seed=5), "negatives": self.images(3, seed=6) * 0.5}
        return {
            "positives": self.tokens(3, seed=5)["input_ids"],
            "negatives": self.tokens(3, seed=6)["input_ids"],
        }

    def target_ids(self) -> dict[str, torch.Tensor]:
        p = self.profile
        ids = torch.randint(
            1, TARGET_VOCAB - 1, (p.batch, p.seq_len), generator=torch.Generator().manual_seed(3)
        )
        if self.backbone == "bert":
            ids[:, p.mask_pos] = TARGET_VOCAB - 1  # the target's [MASK], mapped to the source's
        return {"input_ids": ids}

    def signal(self, length: int) -> torch.Tensor:
        seed = self.profile.signal_seed
        if seed is None:
            return torch.randn(self.profile.batch, length)
        return torch.randn(
            self.profile.batch, length, generator=torch.Generator().manual_seed(seed)
        )


#: (constructor kwargs, target inputs, what the unmanipulated model would read); the last is
#: ``None`` where the input is not the backbone's own (a signal, a target vocabulary, a small
#: image inside a frame).
Example = tuple[dict[str, Any], Any, Any]


def _reprogramming_layer(c: ExampleContext) -> Example:  # Time-LLM-style: a series -> tokens
    kwargs: dict[str, Any] = {
        "patch_len": 8,
        "stride": 4,
        "d_model": 16,
        "num_heads": 2,
        "num_prototypes": 10,
    }
    if not c.vision:
        kwargs["prefix_ids"] = [7, 8]
    if c.backbone == "bert":
        kwargs["suffix_ids"] = [c.profile.mask_id]
    return kwargs, c.signal(40), None


def _demonstrations(c: ExampleContext) -> Example:
    if c.profile.demonstrations == "context_ids":
        return {"context_ids": [20, 21, 22, 23, 24, 25]}, c.plain(), c.plain()
    from reference.manipulations.input_concatenative import Demonstration, PromptBuilder

    builder = PromptBuilder(
        instruction="Classify.",
        demonstrations=(Demonstration("good", "yes", "it is nice"), Demonstration("bad", "no")),
        chain_of_thought=True,
    )
    return {"builder": builder, "tokenize": char_tokenize}, c.plain(), c.plain()


def _token_translation(c: ExampleContext) -> Example:
    mask_id = c.profile.mask_id
    table = list(range(20, 20 + TARGET_VOCAB - 1)) + [mask_id]
    target = c.target_ids()
    # Small ids are valid source ids too: the untranslated text (with the source's [MASK]).
    untranslated = target["input_ids"].masked_fill(target["input_ids"] == TARGET_VOCAB - 1, mask_id)
    return {"table": table}, target, {"input_ids": untranslated}


def _with_plain(kwargs: Callable[[ExampleContext], dict[str, Any]]):
    return lambda c: (kwargs(c), c.plain(), c.plain())


def _warp(c: ExampleContext) -> Example:  # two prompt slots at the start of every row
    tokens = c.tokens()
    tokens["input_ids"][:, :2] = PLACEHOLDER_ID
    return {"placeholder_id": PLACEHOLDER_ID, "length": 2}, tokens, tokens


EXAMPLES: dict[str, Callable[[ExampleContext], Example]] = {
    "adversarial_reprogramming": lambda c: ({}, c.images(size=16), None),
    "watermark_perturbation": lambda c: ({}, c.images(size=24), None),
    "token_perturbation": _with_plain(
        lambda c: {"max_length": c.profile.token_perturbation_max_length}
    ),
    "visual_marker": lambda c: (
        {"boxes": [(0.2, 0.2, 0.6, 0.6)]},
        (c.plain(), torch.tensor([[0.1, 0.1, 0.5, 0.9]] * c.profile.batch)),
        c.plain(),
    ),
    "text_markers": lambda c: (
        {"open_id": 1, "close_id": 2},
        (c.plain(), torch.tensor([[1, 3]] * c.profile.batch)),
        c.plain(),
    ),
    "padding_prompt": lambda c: ({"pad": 4}, c.images(size=c.profile.padding_prompt_size), None),
    "vocabulary_prompt": _with_plain(lambda c: {"length": 3}),
    "demonstrations": _demonstrations,
    "visual_icl_grid": _with_plain(lambda c: {"demonstrations": c.images(3, size=16, seed=9)}),
    "sample_specific_mask": lambda c: ({}, c.images(size=24), None),
    "vocabulary_mapping": lambda c: (
        {
            "target_vocab_size": TARGET_VOCAB,
            "special_tokens": {0: 0, TARGET_VOCAB - 1: c.profile.mask_id},
        },
        c.target_ids(),
        None,
    ),
    "signal_to_image": lambda c: ({}, c.signal(50), None),
    "token_translation": _token_translation,
    "embedding_offset": _with_plain(lambda c: {}),
    "fixed_embedding_offset": _with_plain(lambda c: c.contrast()),
    "soft_prompt": _with_plain(lambda c: {"length": 3}),
    "hard_prompt": _with_plain(
        lambda c: {"images": c.images(2, seed=7)} if c.vision else {"prompt_ids": [10, 11, 12]}
    ),
    "reprogramming_layer": _reprogramming_layer,
    "embedding_projection": _with_plain(lambda c: c.contrast()),
    "hidden_offset": _with_plain(lambda c: {}),
    "steering_vector": _with_plain(lambda c: {"layer": 1, "coefficient": 2.0, **c.contrast()}),
    "deep_prompt": _with_plain(lambda c: {"length": 2}),
    "demonstration_states": _with_plain(
        lambda c: {"demonstrations": c.images(2, seed=8) if c.vision else c.tokens(2, seed=8)}
    ),
    "loreft": _with_plain(lambda c: {"rank": 2}),
    "prefix_tuning": _with_plain(lambda c: {"length": 2, "projection_hidden": 8}),
    "p_tuning": _with_plain(lambda c: {"length": 3}),
    "warp": _warp,
    "coop": _with_plain(lambda c: {"length": 2}),
    "cocoop": _with_plain(lambda c: {"length": 2, "meta_reduction": 4}),
    "concept_erasure": _with_plain(lambda c: {"layers": [1], **c.contrast()}),
    "pad_prompter": lambda c: ({"pad": 4}, c.images(size=24), None),
    "function_vector": _with_plain(
        lambda c: {"layer": 1, "heads": [(0, 0), (1, 1)], "prompts": c.tokens(3, seed=5)}
    ),
    "in_context_vector": _with_plain(
        lambda c: {
            "inputs": c.tokens(3, seed=5)["input_ids"],
            "targets": c.tokens(3, seed=6)["input_ids"],
            "strength": 0.5,
        }
    ),
}


def example(name: str, backbone: str, vision: bool, profile: ExampleProfile) -> Example:
    """Constructor kwargs, a batch of target inputs, and what the unmanipulated model would read
    for manipulation ``name`` on ``backbone``. A manipulation not in ``EXAMPLES`` gets no kwargs
    and the backbone's plain inputs."""
    context = ExampleContext(backbone, vision, profile)
    build = EXAMPLES.get(name)
    if build is None:
        return {}, context.plain(), context.plain()
    return build(context)


# ------------------------------------------------------------------------------ torchrun

ROOT = Path(__file__).resolve().parents[1]


def run_torchrun(args: list[str], nproc: int = 2, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``torchrun -m reference.train ARGS`` on ``nproc`` CPU processes (gloo), offline.

    The rendezvous binds an ephemeral port on 127.0.0.1, so parallel tests never collide; every
    rank prints its Python stacks if it aborts, so a failure message says where.
    """
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        PYTHONFAULTHANDLER="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "scripts")]),
    )
    return subprocess.run(
        [torchrun, f"--nproc_per_node={nproc}", "--rdzv-backend=c10d",
         "--rdzv-endpoint=127.0.0.1:0", "-m", "reference.train", *args],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def torchrun_failure(proc: subprocess.CompletedProcess[str]) -> str:
    """The end of both streams: the ranks' own output first, then torchrun's report."""
    return proc.stdout[-2000:] + "\n--- stderr ---\n" + proc.stderr[-6000:]
