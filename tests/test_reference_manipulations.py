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
from reference_support import (
    EXAMPLES,
    MANIPULATION_PROFILE,
    MASK_ID,
    TinyLinear,
    clip_prompts,
    example,
    tiny_bert,
    tiny_clip,
    tiny_gpt2,
    tiny_resnet,
    tiny_vit,
)
from reprogrammability import taxonomy
from torch import nn

import reference
from reference import Reprogrammed, adapt, create_manipulation, registry

B = MANIPULATION_PROFILE.batch


# ----------------------------------------------------------------------------------------------
# Tiny backbones (tests/reference_support.py), built once and shared: every Reprogrammed freezes
# them, and each test checks that its backbone's state is unchanged, so sharing cannot hide a
# modification. This file's text models have 128 positions.
# ----------------------------------------------------------------------------------------------
BACKBONES: dict[str, tuple[Callable[[], nn.Module], dict[str, Any]]] = {
    "vit": (tiny_vit, {}),
    "resnet18": (tiny_resnet, {"input_size": 32}),
    "bert": (lambda: tiny_bert(max_position_embeddings=128), {"mask_token_id": MASK_ID}),
    "gpt2": (lambda: tiny_gpt2(n_positions=128), {}),
    "clip": (tiny_clip, {"class_prompts": clip_prompts()}),
}


def backbone(name: str):
    build, kwargs = BACKBONES[name]
    model = build()
    return model, adapt(model, **kwargs)


def case(manip: str, bb: str, adapter) -> tuple[dict, Any]:
    """Constructor kwargs and an input batch for ``manip`` on backbone ``bb`` (shared table)."""
    kwargs, x, _ = example(manip, bb, adapter.modality != "text", MANIPULATION_PROFILE)
    return kwargs, x


def backbones_for(name: str) -> list[str]:
    cls = registry.get_manipulation(name)
    names = []
    if "vision" in cls.modalities:
        names.append("vit")
        if not cls.needs_tokens:
            names.append("resnet18")
    if "text" in cls.modalities:
        names += ["bert", "gpt2"]
    if "vision-language" in cls.modalities:
        names.append("clip")
    return names


PAIRS = [(m, b) for m in registry.list_manipulations() for b in backbones_for(m)]


def test_every_registered_manipulation_has_a_case():
    assert sorted(EXAMPLES) == registry.list_manipulations()


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
    kwargs, x = case(manip, bb, adapter)
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

    # An optimiser step changes the manipulation (the alignment's moving alone would prove
    # nothing) and nothing in the backbone.
    trainable = rp.trainable_parameters()
    own = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in own}
    optimiser = torch.optim.Adam(trainable, lr=1e-2)
    optimiser.step()
    if own:
        assert any(not torch.equal(before[n], p) for n, p in own), f"{manip}: left as it was"
    for k, v in model.state_dict().items():
        assert torch.equal(v, frozen_before[k]), f"backbone tensor {k} changed"

    # After that step the manipulation gets non-zero gradients (at initialisation some
    # legitimately get exactly zero, e.g. SMM's mask generator behind a zero pattern): every
    # parameter on the transformers; on the 32 px ResNet, whose strided convolutions never read
    # some border rows, the manipulation as a whole.
    optimiser.zero_grad(set_to_none=True)
    rp(x).square().mean().backward()
    nonzero = {n: p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in own}
    if bb == "resnet18":
        assert not own or any(nonzero.values()), f"{manip}: zero gradient after a step"
    else:
        zero = [n for n, ok in nonzero.items() if not ok]
        assert not zero, f"{manip}: zero gradient after a step for {', '.join(zero)}"

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
        kwargs, x = case(manip, "other", adapter)
        rp = Reprogrammed(model, create_manipulation(manip, adapter, **kwargs), TinyLinear(10, 3))
        out = rp(x)
        assert out.shape == (B, 3)
        out.sum().backward()
        assert all(p.grad is None for p in model.parameters())
