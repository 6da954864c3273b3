"""reference/core.py, backbones.py and registry.py: the adapters reproduce the plain models, the
bookkeeping for inserted tokens is right, the registry checks what is registered, and the
package imports without transformers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from reference_support import MASK_ID, VOCAB
from reference_support import TinyLinear as Linear
from reference_support import make_vit as vit
from reference_support import tiny_bert as bert
from reference_support import tiny_gpt2 as gpt2
from reprogrammability import taxonomy
from torch import nn

import reference
from reference import Alignment, Manipulation, Reprogrammed, TokenBatch, adapt, registry
from reference.backbones import (
    ImageAdapter,
    RecordStates,
    TextAdapter,
    ViTAdapter,
    find_layers,
)


class Identity(Alignment):
    kind = "identity"

    def forward(self, source_logits: torch.Tensor) -> torch.Tensor:
        return source_logits


class EmbedOnly(Manipulation):
    """Forces the adapter's block-by-block path without changing anything."""

    cell = ("fixed", "embedding", "additive")
    needs_tokens = True

    def transform_embeddings(self, x, embed):
        return embed(x)


class Passthrough(Manipulation):
    cell = ("fixed", "input", "additive")


class Prepend(Manipulation):
    """Inserts k zero tokens and records what each block sees."""

    cell = ("learnable", "embedding", "concatenative")
    needs_tokens = True

    def __init__(self, adapter, k: int = 2) -> None:
        super().__init__(adapter)
        self.k = k
        self.p = nn.Parameter(torch.zeros(k, adapter.embed_dim))
        self.seen: list[tuple[int, ...]] = []

    def transform_embeddings(self, x, embed):
        t = embed(x)
        o = self.adapter.prompt_offset
        return torch.cat([t[:, :o], self.p.expand(t.shape[0], -1, -1), t[:, o:]], dim=1)

    def before_block(self, index, hidden):
        self.seen.append(tuple(hidden.shape))
        return hidden


def test_import_does_not_load_transformers():
    code = "import sys, reference; reference.list_manipulations(); print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------------
# Adapters
# ----------------------------------------------------------------------------------------------
def test_adapt_detects_backbone_kinds():
    import timm
    import torchvision

    assert isinstance(adapt(vit()), ViTAdapter)
    assert type(adapt(timm.create_model("resnet18", num_classes=5))) is ImageAdapter
    assert type(adapt(torchvision.models.resnet18(num_classes=7))) is ImageAdapter
    assert isinstance(adapt(gpt2()), TextAdapter)
    a = adapt(gpt2())
    assert adapt(a) is a
    with pytest.raises(TypeError, match="expected a torch model"):
        adapt("resnet18")


def test_image_adapter_config_and_num_source():
    import timm
    import torchvision

    r = adapt(timm.create_model("resnet18", num_classes=5), input_size=48)
    assert r.input_size == (48, 48) and r.num_source == 5
    assert torch.allclose(r.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    tv = adapt(torchvision.models.resnet18(num_classes=7))
    assert tv.input_size == (224, 224) and tv.num_source == 7
    # Headless timm models (num_classes=0) return pooled features: their width is the source size.
    headless = adapt(timm.create_model("resnet18", num_classes=0), input_size=32)
    assert headless.num_source == 512
    headless_vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32,
                                     patch_size=8, depth=1, embed_dim=32, num_heads=2)
    assert adapt(headless_vit).num_source == headless_vit(torch.rand(1, 3, 32, 32)).shape[-1]
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(r.normalize(x), (x - r.mean) / r.std)
    v = adapt(vit())
    assert v.input_size == (32, 32)  # the patch embedding's size, not pretrained_cfg's 224
    assert torch.allclose(v.mean.flatten(), torch.full((3,), 0.5))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"global_pool": "avg"},
        {"no_embed_class": True, "reg_tokens": 2},
        {"class_token": False, "global_pool": "avg"},
    ],
    ids=["token", "avg", "no_embed_class+reg", "no_cls"],
)
def test_vit_adapter_reproduces_the_model(overrides):
    model = vit(**overrides)
    adapter = adapt(model)
    x = torch.rand(3, 3, 32, 32)
    expected = model(adapter.normalize(x))
    torch.testing.assert_close(adapter.run(x, EmbedOnly(adapter)), expected)
    torch.testing.assert_close(adapter.run(x, Passthrough(adapter)), expected)


@pytest.mark.parametrize("pool", ["token", "avg"])
def test_vit_inserted_tokens_dropped_before_head(pool, monkeypatch):
    model = vit(global_pool=pool)
    adapter = adapt(model)
    m = Prepend(adapter, k=3)
    widths = []
    real_head = model.forward_head
    monkeypatch.setattr(
        model, "forward_head", lambda t, **kw: (widths.append(t.shape[1]), real_head(t, **kw))[1]
    )
    out = adapter.run(torch.rand(2, 3, 32, 32), m)
    assert out.shape == (2, 10)
    n = model.num_prefix_tokens + model.patch_embed.num_patches
    assert m.seen == [(2, n + 3, 32)] * 2  # blocks see the prompts
    assert widths == [n]  # the head does not


def test_vit_embed_patch_tokens_matches_pos_embed():
    model = vit()
    adapter = adapt(model)
    x = adapter.normalize(torch.rand(2, 3, 32, 32))
    patches = model.patch_embed(x)
    torch.testing.assert_close(adapter.embed_patch_tokens(patches), adapter.embed(x))


def test_image_adapter_resizes_and_rejects_token_manipulations():
    import timm

    model = timm.create_model("resnet18", num_classes=5).eval()
    adapter = adapt(model, input_size=32)
    x = torch.rand(2, 3, 20, 20)
    resized = torch.nn.functional.interpolate(
        x, size=(32, 32), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(
        adapter.run(x, Passthrough(adapter)), model(adapter.normalize(resized))
    )
    with pytest.raises(ValueError, match="token-sequence backbone"):
        reference.create_manipulation("soft_prompt", adapter)


def test_find_layers_for_common_architectures():
    import transformers

    assert len(find_layers(gpt2())) == 2 and len(find_layers(bert())) == 2
    llama = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
    )
    assert len(find_layers(llama)) == 3
    with pytest.raises(TypeError, match="cannot find its list of layers"):
        find_layers(nn.Linear(2, 2))


def test_text_adapter_causal_answer_is_last_real_token():
    model = gpt2()
    adapter = adapt(model)
    ids = torch.randint(5, VOCAB, (3, 6))
    mask = torch.tensor(
        [[1] * 6, [1] * 4 + [0] * 2, [0] * 2 + [1] * 4]
    )  # full, right-, left-padded
    logits = model(input_ids=ids, attention_mask=mask).logits
    got = adapter.run({"input_ids": ids, "attention_mask": mask}, Passthrough(adapter))
    torch.testing.assert_close(got[0], logits[0, 5])
    torch.testing.assert_close(got[1], logits[1, 3])
    torch.testing.assert_close(got[2], logits[2, 5])


def test_text_adapter_masked_lm_reads_the_mask_token():
    model = bert()
    adapter = adapt(model, mask_token_id=MASK_ID)
    ids = torch.randint(5, VOCAB, (2, 6))
    ids[0, 2] = MASK_ID
    ids[1, 4] = MASK_ID
    logits = model(input_ids=ids).logits
    got = adapter.run(ids, Passthrough(adapter))
    torch.testing.assert_close(got, torch.stack([logits[0, 2], logits[1, 4]]))
    with pytest.raises(ValueError, match="needs mask_token_id"):
        adapt(model).run(ids, Passthrough(adapt(model)))
    ids[1, 4] = 7
    with pytest.raises(ValueError, match="every sequence needs a \\[MASK\\]"):
        adapter.run(ids, Passthrough(adapter))


def test_inserted_tokens_extend_the_attention_mask():
    """A padded row gives the same answer as the same row without padding, prompts included."""
    model = gpt2()
    adapter = adapt(model)
    m = Prepend(adapter, k=2)
    with torch.no_grad():
        m.p.normal_()
    ids = torch.randint(5, VOCAB, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    padded = adapter.run({"input_ids": ids, "attention_mask": mask}, m)
    alone = adapter.run(ids[1:, :4], m)
    torch.testing.assert_close(padded[1], alone[0], atol=1e-5, rtol=1e-5)


def test_sequence_classifier_logits_pass_through():
    import transformers

    model = transformers.BertForSequenceClassification(
        transformers.BertConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=5,
        )
    ).eval()
    adapter = adapt(model)
    assert adapter.num_source == 5
    ids = torch.randint(5, VOCAB, (2, 6))
    torch.testing.assert_close(adapter.run(ids, Passthrough(adapter)), model(input_ids=ids).logits)


def test_hidden_hooks_are_removed_after_each_run():
    model = gpt2()
    adapter = adapt(model)
    states = adapter.hidden_states(torch.randint(5, VOCAB, (2, 4)))
    assert len(states) == 2 and states[0].shape == (2, 4, 32)
    assert all(
        not layer._forward_pre_hooks and not layer._forward_hooks for layer in adapter.layers
    )


def test_record_states_reads_block_inputs_or_outputs_and_changes_nothing():
    """Block i's output is block i+1's input; the recorder leaves the logits as they are."""
    adapter = adapt(gpt2())
    ids = torch.randint(5, VOCAB, (2, 4))
    inputs, outputs = RecordStates(adapter), RecordStates(adapter, at="output")
    torch.testing.assert_close(adapter.run(ids, inputs), adapter.run(ids, outputs))
    assert len(inputs.states) == len(outputs.states) == 2
    torch.testing.assert_close(outputs.states[0], inputs.states[1])
    with pytest.raises(ValueError, match="at must be 'input' or 'output'"):
        RecordStates(adapter, at="middle")


def test_token_batch_coercion():
    ids = torch.ones(2, 3, dtype=torch.long)
    assert TokenBatch.coerce(ids).input_ids is ids
    b = TokenBatch.coerce({"input_ids": ids, "attention_mask": ids})
    assert b.attention_mask is ids and b.seq_len == 3 and b.batch_size == 2
    assert torch.equal(TokenBatch(input_ids=ids).mask(), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="float tensor"):
        TokenBatch.coerce(torch.rand(2, 3))
    with pytest.raises(TypeError, match="cannot read inputs"):
        TokenBatch.coerce([1, 2, 3])


# ----------------------------------------------------------------------------------------------
# Reprogrammed
# ----------------------------------------------------------------------------------------------
def test_reprogrammed_freezes_and_keeps_eval_mode():
    model = vit()
    model.train()
    adapter = adapt(model)
    rp = Reprogrammed(model, Prepend(adapter), Linear(10, 3))
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training
    rp.train()
    assert rp.training and not any(m.training for m in model.modules())
    assert rp.model is model
    counts = rp.parameter_counts()
    assert counts == {
        "trainable": 2 * 32 + 10 * 3 + 3,
        "frozen": sum(p.numel() for p in model.parameters()),
    }
    assert set(rp.trainable_state_dict()) == {
        "manipulation.p",
        "alignment.fc.weight",
        "alignment.fc.bias",
    }
    with pytest.raises(KeyError, match="unexpected key"):
        rp.load_trainable_state_dict({"model.weight": torch.zeros(1)})
    with pytest.raises(RuntimeError):
        rp.load_trainable_state_dict({"manipulation.p": torch.zeros(2, 32)})  # alignment missing


def test_reprogrammed_rejects_a_foreign_adapter():
    with pytest.raises(ValueError, match="different model"):
        Reprogrammed(vit(), Passthrough(adapt(vit())), Identity(10, 10), adapter=adapt(vit()))


def test_alignment_rejects_empty_spaces():
    with pytest.raises(ValueError, match="must be positive"):
        Linear(0, 3)


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def isolated_registry(monkeypatch):
    registry._load()
    for name in (
        "_MANIPULATIONS",
        "_ALIGNMENTS",
        "_DEFAULT_MANIPULATIONS",
        "_DEFAULT_ALIGNMENTS",
        "_MANIPULATION_INFO",
        "_ALIGNMENT_INFO",
    ):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))
    return registry


def test_registration_checks_the_taxonomy(isolated_registry):
    reg = isolated_registry

    class BadCell(Manipulation):
        cell = ("learnable", "pixels", "additive")

    with pytest.raises(ValueError, match="location 'pixels' is not a taxonomy value"):
        reg.register_manipulation("bad")(BadCell)

    class BadKind(Alignment):
        kind = "magic"

    with pytest.raises(ValueError, match="kind 'magic' is not a taxonomy value"):
        reg.register_alignment("bad")(BadKind)

    class Other(Manipulation):
        cell = ("learnable", "input", "additive")

    with pytest.raises(ValueError, match="already registered"):
        reg.register_manipulation("padding_prompt")(Other)
    with pytest.raises(ValueError, match="already claimed"):
        reg.register_manipulation("other_default", default_for=("vision",))(Other)


def test_fixed_manipulations_may_not_own_trainable_parameters(isolated_registry):
    reg = isolated_registry

    @reg.register_manipulation("_test_fixed_with_param")
    class Cheat(Manipulation):
        cell = ("fixed", "input", "additive")

        def __init__(self, adapter):
            super().__init__(adapter)
            self.w = nn.Parameter(torch.zeros(1))

    with pytest.raises(ValueError, match="λ = fixed but has trainable parameters: w"):
        reg.create_manipulation("_test_fixed_with_param", vit())


def test_lookups_and_errors():
    assert "soft_prompt" in registry.list_manipulations(("learnable", "embedding", "concatenative"))
    assert registry.list_manipulations(("learnable", "embedding", "concatenative")) == sorted(
        n
        for n in registry.list_manipulations()
        if registry.get_manipulation(n).cell == ("learnable", "embedding", "concatenative")
    )
    with pytest.raises(KeyError, match="unknown manipulation 'nope'; registered: "):
        registry.get_manipulation("nope")
    with pytest.raises(ValueError, match="operator 'sideways'"):
        registry.default_manipulation(("learnable", "input", "sideways"), "vision")
    with pytest.raises(ValueError, match="unknown modality 'audio'"):
        registry.default_manipulation(("learnable", "input", "additive"), "audio")
    with pytest.raises(ValueError, match="supports vision backbones, not text"):
        registry.create_manipulation("padding_prompt", gpt2())


def test_every_cell_has_a_default_for_both_modalities():
    for cell in taxonomy.manipulation_cells():
        for modality in reference.MODALITIES:
            assert (
                registry.get_manipulation(registry.default_manipulation(cell, modality)).cell
                == cell
            )


def test_build_assembles_by_name(isolated_registry):
    reg = isolated_registry
    reg.register_alignment("_test_linear")(Linear)
    import timm

    model = timm.create_model("resnet18", num_classes=10).eval()
    rp = reg.build(
        "padding_prompt",
        "_test_linear",
        model,
        num_classes=4,
        manipulation_kwargs={"pad": 4},
        adapter_kwargs={"input_size": 32},
    )
    assert rp(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    assert rp.alignment.num_source == 10 and rp.manipulation.pad == 4
    with pytest.raises(TypeError, match="unexpected keyword"):
        reg.build("padding_prompt", "_test_linear", model, 4, pad=4)


def test_text_adapter_projects_only_the_answer_position():
    model = gpt2()
    adapter = adapt(model)
    shapes = []
    handle = model.get_output_embeddings().register_forward_hook(
        lambda mod, args, out: shapes.append(tuple(out.shape))
    )
    try:
        out = adapter.run(torch.randint(5, VOCAB, (3, 7)), Passthrough(adapter))
    finally:
        handle.remove()
    assert out.shape == (3, VOCAB)
    assert shapes == [(3, 1, VOCAB)]  # not (3, 7, VOCAB)
    assert not model.get_output_embeddings()._forward_pre_hooks
