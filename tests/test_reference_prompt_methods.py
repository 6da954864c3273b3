"""Each flagship prompt method's equation, pinned on a tiny random backbone.

* CoOp / CoCoOp on CLIP (``reference.clip``): without a manipulation the adapter is CLIP's own
  zero-shot head; CoOp initialised from a phrase's embeddings *is* zero-shot CLIP on "<phrase>
  <class>." (checked against ``CLIPModel.forward`` and against the cosine written out); CoCoOp
  with a zero Meta-Net is CoOp, and otherwise each image reads CoOp's prompts shifted by ``π(x)``.
* WARP: placeholder slots take the prompts in order; the class embeddings read the [MASK] state
  after the MLM head's transform, and started at the label words' decoder rows they give the
  verbalizer's logits.
* Prefix tuning: a prefix of the frozen model's own keys/values for some tokens is the same as
  those tokens written in front of the input; any prefix reads exactly as ``past_key_values``;
  merging the reparametrisation MLP keeps the output.
* P-tuning: the prompts are the encoder's output (a soft prompt holding them gives the same
  logits); merging keeps the output.

Every method: the frozen backbone gets no gradient, each manipulation parameter a non-zero one,
and one optimiser step moves them. Registry metadata: paper ids exist in ``data/papers.yaml``, and
each settings dataclass rejects bad values and unknown keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import reference_support as support
import torch
from reference_support import CLIP_CLASS_NAMES, clip_prompts, tiny_bert, tiny_clip, tiny_gpt2

from reference import Manipulation, Reprogrammed, adapt, registry

pytestmark = pytest.mark.usefixtures("one_torch_thread")
one_torch_thread = support.one_torch_thread

ROOT = Path(__file__).resolve().parents[1]
NEW_METHODS = ("coop", "cocoop", "warp", "p_tuning", "prefix_tuning")


class Nothing(Manipulation):
    """No manipulation: the backbone as it is."""

    cell = ("fixed", "input", "additive")


def identity(n: int):
    return registry.create_alignment("identity", n, n)


def images(n: int = 3, seed: int = 1) -> torch.Tensor:
    return support.images(n, 32, seed)


def check_gradients(rp: Reprogrammed, out: torch.Tensor) -> None:
    """No gradient in the frozen model, a non-zero one in every trainable tensor, and one Adam
    step changes each of them."""
    out.square().mean().backward()
    assert all(p.grad is None for p in rp.model.parameters())
    trainable = dict(rp.manipulation.named_parameters()) | {
        f"alignment.{n}": p for n, p in rp.alignment.named_parameters()
    }
    assert trainable
    for name, p in trainable.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"
    before = {n: p.detach().clone() for n, p in trainable.items()}
    torch.optim.Adam(trainable.values(), lr=1e-2).step()
    for name, p in trainable.items():
        assert not torch.equal(before[name], p), f"{name} did not move"


# ------------------------------------------------------------------------------------ CLIP


def clip_adapter():
    return adapt(tiny_clip(), class_prompts=clip_prompts())


def clip_logits(context: tuple[int, ...], x: torch.Tensor, adapter) -> torch.Tensor:
    """``CLIPModel.forward`` on "[SOS] context name . [EOS]" per class."""
    prompts = clip_prompts(context=context)
    pixels = adapter.normalize(adapter.fit(x))
    with torch.no_grad():
        return tiny_clip()(**prompts, pixel_values=pixels).logits_per_image


def test_clip_adapter_is_clip_zero_shot():
    adapter = clip_adapter()
    x = images()
    with torch.no_grad():
        ours = adapter.run(x, Nothing(adapter))
    assert ours.shape == (3, len(CLIP_CLASS_NAMES))
    torch.testing.assert_close(ours, clip_logits((), x, adapter), atol=1e-5, rtol=0)


def test_coop_from_a_phrase_is_zero_shot_clip_on_that_phrase():
    adapter = clip_adapter()
    x, phrase = images(), (20, 21, 22, 23)
    coop = registry.create_manipulation("coop", adapter, init_ids=phrase)
    assert coop.context.shape == (4, 32)
    with torch.no_grad():
        ours = Reprogrammed(adapter.model, coop, identity(4), adapter=adapter)(x)
    torch.testing.assert_close(ours, clip_logits(phrase, x, adapter), atol=1e-5, rtol=0)

    # The same logits written out: exp(t) · cos(image feature, text feature).
    model = tiny_clip()
    prompts = clip_prompts(context=phrase)
    with torch.no_grad():
        pixels = adapter.normalize(adapter.fit(x))
        image = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        states = model.text_model(**prompts).last_hidden_state
        eot = prompts["attention_mask"].sum(1) - 1
        text = model.text_projection(states[torch.arange(len(eot)), eot])
        manual = model.logit_scale.exp() * torch.nn.functional.cosine_similarity(
            image[:, None], text[None], dim=-1
        )
    torch.testing.assert_close(ours, manual, atol=1e-5, rtol=0)


def test_coop_class_specific_context_acts_on_its_class_only():
    adapter = clip_adapter()
    x = images()
    shared = registry.create_manipulation("coop", adapter, init_ids=(20, 21))
    csc = registry.create_manipulation("coop", adapter, init_ids=(20, 21), class_specific=True)
    assert csc.context.shape == (4, 2, 32)
    run = lambda m: Reprogrammed(adapter.model, m, identity(4), adapter=adapter)(x)  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(run(csc), run(shared), atol=1e-5, rtol=0)
        before = run(csc)
        csc.context[2] += torch.randn(2, 32)
        after = run(csc)
    changed = (after - before).abs().amax(0) > 1e-6
    assert changed.tolist() == [False, False, True, False]


def test_cocoop_with_a_zero_meta_net_is_coop():
    adapter = clip_adapter()
    x = images()
    coop = registry.create_manipulation("coop", adapter, init_ids=(20, 21, 22))
    cocoop = registry.create_manipulation("cocoop", adapter, init_ids=(20, 21, 22))
    torch.nn.init.zeros_(cocoop.meta_net[-1].weight)
    torch.nn.init.zeros_(cocoop.meta_net[-1].bias)
    with torch.no_grad():
        a = Reprogrammed(adapter.model, coop, identity(4), adapter=adapter)(x)
        b = Reprogrammed(adapter.model, cocoop, identity(4), adapter=adapter)(x)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_cocoop_shifts_every_context_vector_by_the_meta_net_of_its_image():
    adapter = clip_adapter()
    x = images()
    torch.manual_seed(3)
    cocoop = registry.create_manipulation("cocoop", adapter, meta_reduction=4)
    assert cocoop.config.length == 4  # CoCoOp's default context length
    rp = Reprogrammed(adapter.model, cocoop, identity(4), adapter=adapter)
    with torch.no_grad():
        ours = rp(x)
        shift = cocoop.meta_net(adapter.encode_image(adapter.normalize(adapter.fit(x))))  # (B, D)
        for b in range(x.shape[0]):
            coop = registry.create_manipulation("coop", adapter, length=4)
            coop.context.copy_(cocoop.context + shift[b])
            row = Reprogrammed(adapter.model, coop, identity(4), adapter=adapter)(x[b : b + 1])
            torch.testing.assert_close(ours[b : b + 1], row, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["coop", "cocoop"])
def test_clip_prompt_learners_train_only_their_context(name: str):
    adapter = clip_adapter()
    m = registry.create_manipulation(name, adapter, length=3)
    rp = Reprogrammed(adapter.model, m, identity(4), adapter=adapter)
    rp.train()
    check_gradients(rp, rp(images()))


def test_clip_prompt_learners_refuse_other_backbones_and_bad_settings():
    with pytest.raises(ValueError, match="supports vision-language backbones, not text"):
        registry.create_manipulation("coop", tiny_gpt2())
    adapter = clip_adapter()
    with pytest.raises(ValueError, match="length must be at least 1"):
        registry.create_manipulation("coop", adapter, length=0)
    with pytest.raises(ValueError, match="length 3 differs from the 2 init_ids"):
        registry.create_manipulation("cocoop", adapter, length=3, init_ids=[5, 6])
    with pytest.raises(TypeError, match="lenght"):
        registry.create_manipulation("coop", adapter, lenght=3)


def test_load_clip_reads_a_saved_model_and_tokenises_the_class_prompts(tmp_path):
    """The loading path users take with real weights, from a local directory (no download)."""
    import json

    import transformers

    from reference.clip import load_clip

    words = ["c", "a", "t", "d", "o", "g", "."]
    pieces = words + [w + "</w>" for w in words] + ["ca", "cat</w>", "do", "dog</w>"]
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": support.CLIP_EOT}
    vocab.update({w: i for i, w in enumerate(pieces, start=2)})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\nd o\ndo g</w>\n")
    files = [str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")]
    tokenizer = transformers.CLIPTokenizer(*files)
    tokenizer.save_pretrained(tmp_path)
    tiny_clip().save_pretrained(tmp_path)

    adapter = load_clip(str(tmp_path), ["cat", "dog"], template="{}.")
    cat, dog, dot = vocab["cat</w>"], vocab["dog</w>"], vocab[".</w>"]
    expected = [[1, cat, dot, support.CLIP_EOT], [1, dog, dot, support.CLIP_EOT]]
    assert adapter.class_ids.tolist() == expected
    x = images()
    with torch.no_grad():
        ours = adapter.run(x, Nothing(adapter))
        theirs = tiny_clip()(
            input_ids=torch.tensor(expected), pixel_values=adapter.normalize(adapter.fit(x))
        ).logits_per_image
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_clip_adapter_rejects_prompts_without_end_tokens():
    with pytest.raises(ValueError, match="start- and end-of-text"):
        adapt(tiny_clip(), class_prompts={"input_ids": torch.tensor([[1]])})


# ------------------------------------------------------------------------------------ WARP

MASK = support.MASK_ID


def bert_inputs(n: int = 4) -> dict[str, torch.Tensor]:
    """BERT rows with a [MASK] at 5 and two prompt slots at 0 and 3."""
    batch = support.token_batch("bert", n)
    batch["input_ids"][:, [0, 3]] = support.PLACEHOLDER_ID
    return batch


def bert_adapter():
    return adapt(tiny_bert(), mask_token_id=MASK)


def test_warp_puts_its_prompts_into_the_slots_in_order():
    adapter = bert_adapter()
    x = bert_inputs()
    warp = registry.create_manipulation(
        "warp", adapter, placeholder_id=support.PLACEHOLDER_ID, length=2, init_ids=[40, 41]
    )
    written = dict(x)
    written["input_ids"] = x["input_ids"].clone()
    written["input_ids"][:, 0], written["input_ids"][:, 3] = 40, 41
    with torch.no_grad():
        ours = adapter.run(x, warp)
        plain = adapter.run(written, Nothing(adapter))
    torch.testing.assert_close(ours, plain, atol=1e-6, rtol=0)
    bad = dict(x)
    bad["input_ids"] = x["input_ids"].clone()
    bad["input_ids"][0, 3] = 50
    with pytest.raises(ValueError, match="exactly 2 placeholder tokens"):
        adapter.run(bad, warp)


def test_class_embeddings_read_the_mlm_transform_and_start_as_the_verbalizer():
    label_ids = [30, 31, 32]
    adapter = bert_adapter()
    x = bert_inputs()
    warp = registry.create_manipulation(
        "warp", adapter, placeholder_id=support.PLACEHOLDER_ID, length=2
    )
    rp = registry.build(
        "warp", "class-embeddings", tiny_bert(), 3,
        manipulation_kwargs={"placeholder_id": support.PLACEHOLDER_ID, "length": 2},
        adapter_kwargs={"mask_token_id": MASK},
    )
    assert rp.alignment.num_source == 32  # the hidden width, not the vocabulary
    rp.manipulation.load_state_dict(warp.state_dict())
    rp.alignment.init_from_words(rp.adapter, label_ids)
    verbalizer = Reprogrammed(
        tiny_bert(),
        warp,
        registry.create_alignment("verbalizer", support.VOCAB, 3, token_ids=label_ids),
        adapter=adapter,
    )
    with torch.no_grad():
        features = rp.source_logits(x)  # (B, D): what the decoder reads
        vocab = tiny_bert().get_output_embeddings()(features)
        torch.testing.assert_close(vocab, adapter.run(x, warp), atol=1e-5, rtol=0)
        torch.testing.assert_close(rp(x), verbalizer(x), atol=1e-5, rtol=0)

    rp.train()
    check_gradients(rp, rp(x))


def test_features_need_an_output_embedding():
    import transformers

    torch.manual_seed(0)
    classifier = transformers.BertForSequenceClassification(
        transformers.BertConfig(
            vocab_size=support.VOCAB, hidden_size=32, num_hidden_layers=1,
            num_attention_heads=2, intermediate_size=64, num_labels=2,
        )
    ).eval()
    with pytest.raises(TypeError, match="no output embedding"):
        registry.build("soft_prompt", "class-embeddings", classifier, 2)


# ---------------------------------------------------------------------------- prefix tuning


def gpt2_inputs(n: int = 4) -> dict[str, torch.Tensor]:
    return support.token_batch("gpt2", n)


def last_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(len(mask)), mask.sum(1) - 1]


def test_prefix_of_the_models_own_activations_is_a_hard_prompt():
    adapter = adapt(tiny_gpt2())
    x, words = gpt2_inputs(), [7, 8, 9]
    prefix = registry.create_manipulation(
        "prefix_tuning", adapter, length=3, projection_hidden=None, init_ids=words
    )
    ids = torch.cat([torch.tensor([words] * 4), x["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(4, 3, dtype=torch.long), x["attention_mask"]], dim=1)
    with torch.no_grad():
        ours = adapter.run(x, prefix)
        written = last_logits(tiny_gpt2()(input_ids=ids, attention_mask=mask).logits, mask)
    torch.testing.assert_close(ours, written, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backbone", ["gpt2", "bert"])
def test_prefix_reads_exactly_as_past_key_values(backbone: str):
    from transformers import DynamicCache

    model = tiny_gpt2() if backbone == "gpt2" else tiny_bert()
    adapter = adapt(model, mask_token_id=MASK) if backbone == "bert" else adapt(model)
    x = support.token_batch(backbone, 4)
    torch.manual_seed(1)
    prefix = registry.create_manipulation("prefix_tuning", adapter, length=3, projection_hidden=8)
    with torch.no_grad():
        ours = adapter.run(x, prefix)
        pairs = prefix.key_value_prefix(4)
        assert len(pairs) == 2 and pairs[0][0].shape == (4, 2, 3, 16)  # (B, H, P, d) per layer
        mask = torch.cat([torch.ones(4, 3, dtype=torch.long), x["attention_mask"]], dim=1)
        cache = {adapter._cache_kwarg: DynamicCache(pairs)}  # past_key_values, named per version
        out = model(input_ids=x["input_ids"], attention_mask=mask, **cache).logits
        if backbone == "gpt2":
            theirs = last_logits(out, x["attention_mask"])
        else:
            theirs = out[:, 5]  # the [MASK]
        plain = adapter.run(x, Nothing(adapter))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert not torch.allclose(ours, plain, atol=1e-4)


def test_prefix_leaves_the_sequence_alone_and_merges_away_its_mlp():
    adapter = adapt(tiny_gpt2())
    x = gpt2_inputs()
    prefix = registry.create_manipulation("prefix_tuning", adapter, length=3, projection_hidden=8)
    seen = []

    def record(module, args, kwargs):
        seen.append((args[0] if args else kwargs["hidden_states"]).shape)

    handle = adapter.layers[0].register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.no_grad():
            before = adapter.run(x, prefix)
    finally:
        handle.remove()
    assert seen == [torch.Size([4, 8, 32])]  # no positions inserted, unlike deep_prompt
    assert any("transform" in n for n, _ in prefix.named_parameters())
    prefix.merge()
    assert [n for n, _ in prefix.named_parameters()] == ["prefix.merged"]
    assert prefix.prefix.merged.shape == (3, 2 * 2 * 32)  # (P, layers · 2 · D)
    with torch.no_grad():
        torch.testing.assert_close(adapter.run(x, prefix), before, atol=1e-6, rtol=0)


@pytest.mark.parametrize("hidden", [8, None])
def test_prefix_tuning_trains_only_its_prefix(hidden):
    model = tiny_gpt2()
    settings = {"length": 2, "projection_hidden": hidden}
    rp = registry.build("prefix_tuning", "linear", model, 3, manipulation_kwargs=settings)
    rp.train()
    check_gradients(rp, rp(gpt2_inputs()))


def test_prefix_tuning_settings():
    adapter = adapt(tiny_gpt2())
    with pytest.raises(ValueError, match="use projection_hidden=None"):
        registry.create_manipulation("prefix_tuning", adapter, length=2, init_ids=[5, 6])
    with pytest.raises(ValueError, match="3 init_ids for a prefix of 2"):
        registry.create_manipulation(
            "prefix_tuning", adapter, length=2, projection_hidden=None, init_ids=[5, 6, 7]
        )
    with pytest.raises(ValueError, match="returns no key/value cache"):
        registry.create_manipulation(
            "prefix_tuning", bert_adapter(), length=2, projection_hidden=None, init_ids=[5, 6]
        )


# ------------------------------------------------------------------------------- P-tuning


@pytest.mark.parametrize("encoder", ["lstm", "mlp"])
def test_p_tuning_prompts_are_its_encoders_output(encoder: str):
    adapter = adapt(tiny_gpt2())
    x = gpt2_inputs()
    torch.manual_seed(2)
    pt = registry.create_manipulation("p_tuning", adapter, length=3, encoder=encoder, hidden=8)
    soft = registry.create_manipulation("soft_prompt", adapter, length=3)
    with torch.no_grad():
        soft.prompts.copy_(pt.prompts())
        ours = adapter.run(x, pt)
        torch.testing.assert_close(ours, adapter.run(x, soft), atol=1e-6, rtol=0)
        pt.merge()
        assert [n for n, _ in pt.named_parameters()] == ["prompts.merged"]
        torch.testing.assert_close(adapter.run(x, pt), ours, atol=1e-6, rtol=0)


def test_p_tuning_fills_template_slots_like_warp():
    adapter = bert_adapter()
    x = bert_inputs()
    pt = registry.create_manipulation(
        "p_tuning", adapter, length=2, placeholder_id=support.PLACEHOLDER_ID
    )
    warp = registry.create_manipulation(
        "warp", adapter, placeholder_id=support.PLACEHOLDER_ID, length=2
    )
    with torch.no_grad():
        warp.prompts.copy_(pt.prompts())
        torch.testing.assert_close(adapter.run(x, pt), adapter.run(x, warp), atol=1e-6, rtol=0)


@pytest.mark.parametrize("encoder", ["lstm", "mlp"])
def test_p_tuning_trains_its_encoder(encoder: str):
    rp = registry.build(
        "p_tuning", "linear", tiny_gpt2(), 3, manipulation_kwargs={"length": 2, "encoder": encoder}
    )
    rp.train()
    check_gradients(rp, rp(gpt2_inputs()))
    with pytest.raises(ValueError, match="encoder must be 'lstm' or 'mlp'"):
        registry.create_manipulation("p_tuning", adapt(tiny_gpt2()), encoder="gru")


# ------------------------------------------------------------------------------ metadata


def test_new_methods_declare_papers_in_the_database_and_a_fidelity():
    papers = _database_ids()
    infos = [registry.manipulation_info(n) for n in NEW_METHODS]
    infos.append(registry.alignment_info("class-embeddings"))
    for info in infos:
        assert info.papers and set(info.papers) <= papers, info.papers
        assert info.fidelity in registry.FIDELITIES
    for name in registry.list_manipulations():
        assert set(registry.manipulation_info(name).papers) <= papers, name
    for name in registry.list_alignments():
        assert set(registry.alignment_info(name).papers) <= papers, name


def _database_ids() -> set[str]:
    """The paper ids of data/papers.yaml (also their BibTeX keys)."""
    from reprogrammability import validate

    result = validate.load(ROOT / "data" / "papers.yaml")
    assert not result.problems
    return {p.id for p in result.papers}


@pytest.mark.parametrize("name", NEW_METHODS)
def test_settings_dataclass_round_trip(name: str):
    """The registry builds the method's config from keyword arguments and keeps it."""
    config = registry.manipulation_info(name).config
    assert config is not None
    backbone = "clip" if "coop" in name else "gpt2"
    kwargs, _, _ = support.example(name, backbone, True, support.MANIPULATION_PROFILE)
    adapter = clip_adapter() if "coop" in name else adapt(tiny_gpt2())
    m = registry.create_manipulation(name, adapter, **kwargs)
    assert m.config == config(**kwargs)
    with pytest.raises(TypeError):
        registry.create_manipulation(name, adapter, **kwargs, not_a_setting=1)


def test_registration_checks_metadata(monkeypatch):
    registry._load()
    monkeypatch.setattr(registry, "_MANIPULATIONS", dict(registry._MANIPULATIONS))
    monkeypatch.setattr(registry, "_MANIPULATION_INFO", dict(registry._MANIPULATION_INFO))

    class Thing(Manipulation):
        cell = ("learnable", "input", "additive")

    with pytest.raises(ValueError, match="is not a paper id"):
        registry.register_manipulation("_thing", papers=("CoOp",))(Thing)
    with pytest.raises(ValueError, match="fidelity 'exact'"):
        registry.register_manipulation("_thing", fidelity="exact")(Thing)
    with pytest.raises(ValueError, match="config must be a dataclass"):
        registry.register_manipulation("_thing", config=dict)(Thing)
    assert "_thing" not in registry._MANIPULATIONS
