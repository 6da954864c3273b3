"""Every registered manipulation on tiny random backbones: shapes, frozen backbone, gradients,
eval mode, parameter counts and trainable-state round trips.

Backbones: a 2-block timm ViT (32 px, 8 px patches, width 32), timm resnet18 at 32 px, and tiny
BERT (masked LM) / GPT-2 (causal LM) configs; nothing is downloaded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from reprogrammability import taxonomy
from torch import nn

import reference
from reference import Alignment, Reprogrammed, adapt, create_manipulation, registry
from reference.manipulations.input_concatenative import Demonstration, PromptBuilder

B = 4
VOCAB = 100
MASK_ID = 3
SEQ = 8
TARGET_VOCAB = 12


class TinyLinear(Alignment):
    """A local linear head, so these tests do not depend on the alignment package."""

    kind = "linear"

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__(num_source, num_target)
        self.fc = nn.Linear(num_source, num_target)

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return self.fc(source_logits)


# ----------------------------------------------------------------------------------------------
# Tiny backbones, built once and shared: every Reprogrammed freezes them, and each test checks
# that its backbone's state is unchanged, so sharing cannot hide a modification.
# ----------------------------------------------------------------------------------------------
@functools.cache
def _vit() -> nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        depth=2,
        embed_dim=32,
        num_heads=2,
        num_classes=10,
    ).eval()


@functools.cache
def _resnet() -> nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=10).eval()


@functools.cache
def _bert() -> nn.Module:
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return transformers.BertForMaskedLM(cfg).eval()


@functools.cache
def _gpt2() -> nn.Module:
    import transformers

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=1,
        eos_token_id=2,
    )
    return transformers.GPT2LMHeadModel(cfg).eval()


BACKBONES: dict[str, tuple[Callable[[], nn.Module], dict[str, Any]]] = {
    "vit": (_vit, {}),
    "resnet18": (_resnet, {"input_size": 32}),
    "bert": (_bert, {"mask_token_id": MASK_ID}),
    "gpt2": (_gpt2, {}),
}


def backbone(name: str):
    build, kwargs = BACKBONES[name]
    model = build()
    return model, adapt(model, **kwargs)


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def images(n: int = B, size: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def token_batch(
    name: str, n: int = B, seed: int = 2, vocab: int = VOCAB, mask_id: int = MASK_ID
) -> dict:
    """Right-padded ids; a BERT batch has its [MASK] at position 5 of every row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (n, SEQ), generator=g)
    mask = torch.ones(n, SEQ, dtype=torch.long)
    mask[-1, 6:] = 0
    ids[-1, 6:] = 0
    if name == "bert":
        ids[:, 5] = mask_id
    return {"input_ids": ids, "attention_mask": mask}


def char_tokenize(text: str) -> list[int]:
    return [5 + ord(c) % (VOCAB - 5) for c in text][:24]


# Per manipulation: (kwargs, input) for a backbone name and its adapter.
Case = Callable[[str, Any], tuple[dict, Any]]


def _plain(name, adapter):
    return {}, images() if adapter.modality == "vision" else token_batch(name)


def _pos_neg(name, adapter):
    if adapter.modality == "vision":
        return images(3, seed=5), images(3, seed=6) * 0.5
    return token_batch(name, 3, seed=5)["input_ids"], token_batch(name, 3, seed=6)["input_ids"]


def _target_ids(name):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, TARGET_VOCAB - 1, (B, SEQ), generator=g)
    if name == "bert":
        ids[:, 5] = TARGET_VOCAB - 1  # the target's own [MASK] symbol, pinned to the source [MASK]
    return {"input_ids": ids}


def _reprogramming(name, adapter):
    kwargs = {"patch_len": 8, "stride": 4, "d_model": 16, "num_heads": 2, "num_prototypes": 10}
    if name == "bert":
        kwargs["suffix_ids"] = [MASK_ID]
    if adapter.modality == "text":
        kwargs["prefix_ids"] = [7, 8]
    return kwargs, torch.randn(B, 40)


CASES: dict[str, Case] = {
    "adversarial_reprogramming": lambda n, a: ({}, images(size=16)),
    "watermark_perturbation": lambda n, a: ({}, images(size=24)),
    "token_perturbation": lambda n, a: ({"max_length": 6}, token_batch(n)),
    "visual_marker": lambda n, a: (
        {"boxes": [(0.2, 0.2, 0.6, 0.6)]},
        (images(), torch.tensor([[0.1, 0.1, 0.5, 0.9]] * B)),
    ),
    "text_markers": lambda n, a: (
        {"open_id": 1, "close_id": 2},
        (token_batch(n), torch.tensor([[1, 3]] * B)),
    ),
    "padding_prompt": lambda n, a: ({"pad": 4}, images()),
    "vocabulary_prompt": lambda n, a: ({"length": 3}, token_batch(n)),
    "demonstrations": lambda n, a: (
        {
            "builder": PromptBuilder(
                instruction="Classify.",
                demonstrations=(
                    Demonstration("good", "yes", "it is nice"),
                    Demonstration("bad", "no"),
                ),
                chain_of_thought=True,
            ),
            "tokenize": char_tokenize,
        },
        token_batch(n),
    ),
    "visual_icl_grid": lambda n, a: ({"demonstrations": images(3, size=16, seed=9)}, images()),
    "sample_specific_mask": lambda n, a: ({}, images(size=24)),
    "vocabulary_mapping": lambda n, a: (
        {"target_vocab_size": TARGET_VOCAB, "special_tokens": {0: 0, TARGET_VOCAB - 1: MASK_ID}},
        _target_ids(n),
    ),
    "signal_to_image": lambda n, a: ({}, torch.randn(B, 50)),
    "token_translation": lambda n, a: (
        {"table": list(range(20, 20 + TARGET_VOCAB - 1)) + [MASK_ID]},
        _target_ids(n),
    ),
    "embedding_offset": _plain,
    "fixed_embedding_offset": lambda n, a: (
        dict(zip(("positives", "negatives"), _pos_neg(n, a))),
        _plain(n, a)[1],
    ),
    "soft_prompt": lambda n, a: ({"length": 3}, _plain(n, a)[1]),
    "hard_prompt": lambda n, a: (
        {"prompt_ids": [10, 11, 12]} if a.modality == "text" else {"images": images(2, seed=7)},
        _plain(n, a)[1],
    ),
    "reprogramming_layer": _reprogramming,
    "embedding_projection": lambda n, a: (
        dict(zip(("positives", "negatives"), _pos_neg(n, a))),
        _plain(n, a)[1],
    ),
    "hidden_offset": _plain,
    "steering_vector": lambda n, a: (
        {"layer": 1, "coefficient": 2.0, **dict(zip(("positives", "negatives"), _pos_neg(n, a)))},
        _plain(n, a)[1],
    ),
    "deep_prompt": lambda n, a: ({"length": 2}, _plain(n, a)[1]),
    "demonstration_states": lambda n, a: (
        {
            "demonstrations": images(2, seed=8)
            if a.modality == "vision"
            else token_batch(n, 2, seed=8)
        },
        _plain(n, a)[1],
    ),
    "loreft": lambda n, a: ({"rank": 2}, _plain(n, a)[1]),
    "concept_erasure": lambda n, a: (
        {"layers": [1], **dict(zip(("positives", "negatives"), _pos_neg(n, a)))},
        _plain(n, a)[1],
    ),
}


def backbones_for(name: str) -> list[str]:
    cls = registry.get_manipulation(name)
    names = []
    if "vision" in cls.modalities:
        names.append("vit")
        if not cls.needs_tokens:
            names.append("resnet18")
    if "text" in cls.modalities:
        names += ["bert", "gpt2"]
    return names


PAIRS = [(m, b) for m in registry.list_manipulations() for b in backbones_for(m)]


def test_every_registered_manipulation_has_a_case():
    assert sorted(CASES) == registry.list_manipulations()


def test_every_cell_resolves_for_both_modalities():
    for cell in taxonomy.manipulation_cells():
        for modality in reference.MODALITIES:
            cls = registry.get_manipulation(registry.default_manipulation(cell, modality))
            assert cls.cell == cell
            assert modality in cls.modalities


@pytest.mark.parametrize("name", registry.list_manipulations())
def test_docstring_names_papers_and_cell(name: str):
    """Each implementation says which paper(s) it reproduces (a year) and where it sits."""
    cls = registry.get_manipulation(name)
    doc = cls.__dict__.get("__doc__") or ""
    assert f"Cell: {taxonomy.cell_label(cls.cell)}." in doc
    assert re.search(r"\b(19|20)\d\d\b", doc), f"{name}: no paper year in its docstring"


def build_case(manip: str, bb: str, seed: int = 0):
    model, adapter = backbone(bb)
    kwargs, x = CASES[manip](bb, adapter)
    torch.manual_seed(seed)
    m = create_manipulation(manip, adapter, **kwargs)
    alignment = TinyLinear(adapter.num_source, 3)
    return Reprogrammed(model, m, alignment, adapter=adapter), x


@pytest.mark.parametrize(("manip", "bb"), PAIRS, ids=[f"{m}-{b}" for m, b in PAIRS])
def test_manipulation_contract(manip: str, bb: str):
    rp, x = build_case(manip, bb)
    model = rp.model
    m = rp.manipulation
    frozen_before = {k: v.clone() for k, v in model.state_dict().items()}

    # λ = fixed: no trainable parameter in the manipulation; learnable: some.
    n_manip = sum(p.numel() for p in m.parameters() if p.requires_grad)
    if m.cell[0] == "fixed":
        assert n_manip == 0
    else:
        assert n_manip > 0

    # The backbone stays in eval mode under .train().
    rp.train()
    assert rp.training and rp.manipulation.training
    assert not any(mod.training for mod in model.modules())

    # Forward shape; gradients reach only manipulation/alignment parameters.
    out = rp(x)
    assert out.shape == (B, 3)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is None for p in model.parameters())
    for name, p in list(m.named_parameters()) + list(rp.alignment.named_parameters()):
        assert p.grad is not None, f"{manip}: no gradient for {name}"

    # An optimiser step changes the trainable parameters and nothing in the backbone.
    trainable = rp.trainable_parameters()
    before = [p.detach().clone() for p in trainable]
    torch.optim.Adam(trainable, lr=1e-2).step()
    assert any(not torch.equal(b, p) for b, p in zip(before, trainable))
    for k, v in model.state_dict().items():
        assert torch.equal(v, frozen_before[k]), f"backbone tensor {k} changed"

    # Parameter counts.
    counts = rp.parameter_counts()
    assert counts["trainable"] == n_manip + sum(p.numel() for p in rp.alignment.parameters())
    assert counts["frozen"] == sum(p.numel() for p in model.parameters())

    # Trainable state round trip into a freshly initialised copy.
    state = rp.trainable_state_dict()
    assert state and all(k.startswith(("manipulation.", "alignment.")) for k in state)
    assert not any(k.startswith("manipulation.adapter") for k in state)
    other, _ = build_case(manip, bb, seed=123)
    other.load_trainable_state_dict(state)
    rp.eval()
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(x), rp(x))


@functools.cache
def _other_image_backbones() -> dict[str, nn.Module]:
    import timm
    import torchvision

    torch.manual_seed(0)
    return {
        "efficientnet_b0": timm.create_model("efficientnet_b0", pretrained=False, num_classes=10),
        "torchvision_resnet18": torchvision.models.resnet18(num_classes=10),
    }


INPUT_VISION = [
    n
    for n in registry.list_manipulations()
    if not registry.get_manipulation(n).needs_tokens
    and "vision" in registry.get_manipulation(n).modalities
]


@pytest.mark.parametrize("manip", INPUT_VISION)
def test_input_level_manipulations_run_on_any_image_model(manip: str):
    """Input-level methods need nothing but an image classifier: timm CNNs, torchvision nets."""
    for model in _other_image_backbones().values():
        adapter = adapt(model.eval(), input_size=32)
        kwargs, x = CASES[manip]("other", adapter)
        rp = Reprogrammed(model, create_manipulation(manip, adapter, **kwargs), TinyLinear(10, 3))
        out = rp(x)
        assert out.shape == (B, 3)
        out.sum().backward()
        assert all(p.grad is None for p in model.parameters())
