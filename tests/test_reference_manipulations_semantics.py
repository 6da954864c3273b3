"""What each manipulation does, checked against the papers' definitions on tiny backbones:
zero-initialised ones start as the identity, masks and frames sit where they should, fixed
concatenations equal the frozen model reading the concatenated text, steering and erasure do
the arithmetic they claim."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from reference_support import MASK_ID, VOCAB
from reference_support import tiny_bert as bert
from reference_support import tiny_gpt2 as gpt2
from reference_support import tiny_resnet as resnet
from reference_support import tiny_vit as vit

from reference import adapt, create_manipulation
from reference.core import Manipulation
from reference.manipulations.hidden_additive import steering_vector
from reference.manipulations.input_concatenative import COT_TRIGGER, Demonstration, PromptBuilder


class Plain(Manipulation):
    cell = ("fixed", "input", "additive")


def ids(n=2, length=6, seed=0):
    return torch.randint(5, VOCAB, (n, length), generator=torch.Generator().manual_seed(seed))


def last_logits(model, token_ids):
    return model(input_ids=token_ids).logits[:, -1]


# ----------------------------------------------------------------------------------------------
# Input level, vision
# ----------------------------------------------------------------------------------------------
def test_adversarial_reprogramming_places_target_and_masks_program():
    adapter = adapt(resnet(), input_size=32)
    m = create_manipulation("adversarial_reprogramming", adapter)
    x = torch.rand(2, 3, 16, 16)
    out = m.transform_input(x)
    torch.testing.assert_close(out, F.pad(x, (8, 8, 8, 8), value=0.5))  # W = 0 at init
    with torch.no_grad():
        m.weight.fill_(100.0)
    out = m.transform_input(x)
    torch.testing.assert_close(out[..., 8:24, 8:24], x)  # the target is never perturbed
    assert torch.allclose(out[..., :8, :], torch.ones(()))  # 0.5 + 0.5·tanh(∞): bounded in [0, 1]


def test_watermark_covers_the_resized_image():
    adapter = adapt(resnet(), input_size=32)
    m = create_manipulation("watermark_perturbation", adapter)
    x = torch.rand(2, 3, 16, 16)
    resized = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(m.transform_input(x), resized)
    with torch.no_grad():
        m.weight.fill_(-100.0)
    torch.testing.assert_close(m.transform_input(x), resized - 1.0)


def test_padding_prompt_frames_the_shrunken_image():
    adapter = adapt(resnet(), input_size=32)
    p, s = 4, 32
    m = create_manipulation("padding_prompt", adapter, pad=p)
    assert sum(t.numel() for t in m.parameters()) == 2 * 3 * p * s + 2 * 3 * p * (s - 2 * p)
    x = torch.rand(2, 3, 32, 32)
    out = m.transform_input(x)
    inner = F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[..., p:-p, p:-p], inner)
    torch.testing.assert_close(out[0, :, :p], m.prompt()[0, :, :p])
    assert m.pad == p
    assert create_manipulation("padding_prompt", adapt(resnet())).pad == 30  # Bahng's 30 px at 224


def test_sample_specific_mask_starts_as_resized_image_and_depends_on_the_sample():
    adapter = adapt(resnet(), input_size=32)
    m = create_manipulation("sample_specific_mask", adapter)
    x = torch.rand(2, 3, 16, 16)
    resized = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(m.transform_input(x), resized)
    with torch.no_grad():
        m.pattern.fill_(1.0)
    delta = m.transform_input(x) - resized
    assert not torch.allclose(delta[0], delta[1])  # a per-sample mask, not a shared pattern
    mask = m.generator(resized)
    assert mask.shape == (2, 3, 4, 4)  # one value per 8×8 block ...
    block = delta[:, :, :8, :8]
    torch.testing.assert_close(
        block, block[:, :, :1, :1].expand_as(block)
    )  # ... enlarged patch-wise
    paper = create_manipulation("sample_specific_mask", adapter, input_pool=1, batch_norm=True)
    assert paper.generator(resized).shape == (2, 3, 4, 4)
    widths = (8, 16, 32, 64)
    convs = sum(9 * i * o + o for i, o in zip((3, *widths), (*widths, 3)))
    assert sum(p.numel() for p in m.parameters()) == convs + 3 * 32 * 32
    assert sum(p.numel() for p in paper.parameters()) == convs + 2 * sum(widths) + 3 * 32 * 32
    assert create_manipulation("sample_specific_mask", adapt(vit())).patch_size == 8  # the ViT's
    assert create_manipulation("sample_specific_mask", adapter, pools=2).patch_size == 4
    with pytest.raises(ValueError, match="power of two"):
        create_manipulation("sample_specific_mask", adapter, patch_size=12)


def test_visual_marker_draws_a_ring_and_leaves_the_rest():
    adapter = adapt(resnet(), input_size=64)
    m = create_manipulation(
        "visual_marker", adapter, boxes=[(0.25, 0.25, 0.75, 0.75)], thickness=0.05
    )
    x = torch.full((1, 3, 64, 64), 0.3)
    out = m.transform_input(x)
    torch.testing.assert_close(
        out[0, :, 16, 32], torch.tensor([1.0, 0.0, 0.0])
    )  # top of the circle
    torch.testing.assert_close(out[0, :, 32, 32], x[0, :, 32, 32])  # centre untouched
    torch.testing.assert_close(out[0, :, 2, 2], x[0, :, 2, 2])  # corner untouched
    boxed = create_manipulation("visual_marker", adapter, shape="box", thickness=0.05)
    out = boxed.transform_input((x, torch.tensor([[0.0, 0.5, 0.5, 1.0]])))
    assert out[0, 0, 32, 10] == 1.0 and out[0, 0, 10, 10] == pytest.approx(0.3)


def test_visual_icl_grid_tiles_demonstrations_and_query():
    adapter = adapt(resnet(), input_size=32)
    demos = torch.rand(3, 3, 16, 16)
    m = create_manipulation("visual_icl_grid", adapter, demonstrations=demos)
    q = torch.rand(2, 3, 16, 16)
    out = m.transform_input(q)
    torch.testing.assert_close(out[:, :, :16, :16], demos[0].expand(2, -1, -1, -1))
    torch.testing.assert_close(out[:, :, :16, 16:], demos[1].expand(2, -1, -1, -1))
    torch.testing.assert_close(out[:, :, 16:, :16], demos[2].expand(2, -1, -1, -1))
    torch.testing.assert_close(out[:, :, 16:, 16:], q)


def test_signal_to_image_modes():
    adapter = adapt(resnet(), input_size=32)
    series = torch.randn(2, 32)
    gaf = create_manipulation("signal_to_image", adapter).transform_input(series)
    assert gaf.shape == (2, 3, 32, 32) and gaf.min() >= 0 and gaf.max() <= 1
    torch.testing.assert_close(gaf, gaf.transpose(-1, -2))  # a Gram matrix
    u = (series - series.amin(1, keepdim=True)) / (
        series.amax(1, keepdim=True) - series.amin(1, keepdim=True)
    )
    u = 2 * u - 1
    torch.testing.assert_close(
        gaf[:, 0].diagonal(dim1=-2, dim2=-1), ((2 * u * u - 1) + 1) / 2
    )  # cos 2φ
    small = adapt(resnet(), input_size=4)
    flat = create_manipulation("signal_to_image", small, mode="reshape").transform_input(
        torch.arange(16.0).view(1, 16)
    )
    torch.testing.assert_close(flat[0, 0], (torch.arange(16.0) / 15).view(4, 4))
    with pytest.raises(ValueError, match="mode must be"):
        create_manipulation("signal_to_image", adapter, mode="spectrogram")


# ----------------------------------------------------------------------------------------------
# Input level, text
# ----------------------------------------------------------------------------------------------
def test_token_perturbation_is_additive_in_one_hot_space():
    model = gpt2()
    adapter = adapt(model)
    m = create_manipulation("token_perturbation", adapter, max_length=4)
    x = ids()
    batch = m.transform_input(x)
    torch.testing.assert_close(batch.inputs_embeds, model.get_input_embeddings()(x))  # δ = 0
    with torch.no_grad():
        m.delta[1, 7] = 1.0
    e = model.get_input_embeddings().weight
    onehot = F.one_hot(x, VOCAB).float()
    onehot[:, 1, 7] += 1.0
    torch.testing.assert_close(m.transform_input(x).inputs_embeds, onehot @ e)


def test_vocabulary_prompt_feeds_real_tokens():
    model = gpt2()
    adapter = adapt(model)
    m = create_manipulation("vocabulary_prompt", adapter, length=3)
    x = ids()
    out = adapter.run(x, m)
    prompt = m.tokens().unsqueeze(0).expand(2, -1)
    torch.testing.assert_close(
        out, last_logits(model, torch.cat([prompt, x], 1)), atol=1e-5, rtol=1e-5
    )


def test_demonstrations_equal_reading_the_concatenated_prompt():
    model = gpt2()
    adapter = adapt(model)
    context = [11, 12, 13, 14]
    m = create_manipulation("demonstrations", adapter, context_ids=context)
    x = ids()
    expected = last_logits(model, torch.cat([torch.tensor(context).expand(2, -1), x], 1))
    torch.testing.assert_close(adapter.run(x, m), expected, atol=1e-5, rtol=1e-5)


def test_prompt_builder_formats_instruction_demonstrations_and_cot():
    builder = PromptBuilder(
        instruction="Decide if the review is positive.",
        demonstrations=[Demonstration("great film", "yes", "the reviewer praises it")],
        chain_of_thought=True,
    )
    text = builder("dull plot")
    assert text.startswith("Decide if the review is positive.\n\nInput: great film\n")
    assert f"{COT_TRIGGER} the reviewer praises it\nAnswer: yes" in text
    assert text.endswith(f"Input: dull plot\n{COT_TRIGGER}\nAnswer:")
    plain = PromptBuilder(demonstrations=[Demonstration("a", "b", "ignored")])
    assert plain("c") == "Input: a\nAnswer: b\n\nInput: c\nAnswer:"


def test_text_markers_wrap_the_span():
    adapter = adapt(gpt2())
    m = create_manipulation("text_markers", adapter, open_id=1, close_id=2)
    x = torch.tensor([[10, 11, 12, 13, 0], [20, 21, 22, 23, 24]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    out = m.transform_input(
        ({"input_ids": x, "attention_mask": mask}, torch.tensor([[1, 3], [0, 5]]))
    )
    assert out.input_ids.tolist() == [[10, 1, 11, 12, 2, 13, 0], [1, 20, 21, 22, 23, 24, 2]]
    assert out.attention_mask.tolist() == [[1, 1, 1, 1, 1, 1, 0], [1] * 7]
    with pytest.raises(ValueError, match="spans must satisfy"):
        m.transform_input((x, torch.tensor([[3, 1], [0, 1]])))


def test_vocabulary_mapping_and_token_translation():
    model = bert()
    adapter = adapt(model, mask_token_id=MASK_ID)
    vm = create_manipulation(
        "vocabulary_mapping", adapter, target_vocab_size=6, special_tokens={5: MASK_ID}
    )
    w = vm.weights()
    assert torch.allclose(w.sum(-1), torch.ones(6))
    assert w[5, MASK_ID] == 1 and w[5].sum() == 1
    target = torch.tensor([[0, 1, 5, 2]])
    batch = vm.transform_input(target)
    assert batch.input_ids[0, 2] == MASK_ID
    torch.testing.assert_close(
        batch.inputs_embeds[0, 2], model.get_input_embeddings().weight[MASK_ID]
    )

    tt = create_manipulation("token_translation", adapter, table={0: 40, 1: 41, 2: MASK_ID})
    assert tt.transform_input(torch.tensor([[0, 2, 1]])).input_ids.tolist() == [[40, MASK_ID, 41]]
    with pytest.raises(ValueError, match="missing from the table"):
        tt.transform_input(torch.tensor([[0, 4]]))
    with pytest.raises(ValueError, match="into the source vocabulary"):
        create_manipulation("token_translation", adapter, table=[VOCAB + 1])


# ----------------------------------------------------------------------------------------------
# Embedding level
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["embedding_offset", "hidden_offset"])
def test_zero_initialised_offsets_start_as_the_plain_model(name):
    for model in (vit(), gpt2()):
        adapter = adapt(model)
        x = torch.rand(2, 3, 32, 32) if adapter.modality == "vision" else ids()
        m = create_manipulation(name, adapter)
        torch.testing.assert_close(adapter.run(x, m), adapter.run(x, Plain(adapter)))


def test_low_rank_embedding_offset_counts_and_starts_at_zero():
    adapter = adapt(gpt2())
    m = create_manipulation("embedding_offset", adapter, positions=16, rank=2)
    assert sum(p.numel() for p in m.parameters()) == 16 * 2 + 2 * 32
    assert torch.count_nonzero(m.delta()) == 0


def test_hard_prompt_equals_reading_the_prompt_tokens():
    model = gpt2()
    adapter = adapt(model)
    m = create_manipulation("hard_prompt", adapter, prompt_ids=[21, 22, 23])
    x = ids()
    expected = last_logits(model, torch.cat([torch.tensor([[21, 22, 23]] * 2), x], 1))
    torch.testing.assert_close(adapter.run(x, m), expected, atol=1e-5, rtol=1e-5)


def test_hard_prompt_vision_inserts_exemplar_patch_tokens():
    adapter = adapt(vit())
    exemplars = torch.rand(2, 3, 32, 32)
    m = create_manipulation("hard_prompt", adapter, images=exemplars)
    model = adapter.model
    # The exemplars' patch tokens, by hand through timm's own embedding (class token dropped).
    with torch.no_grad():
        normed = (exemplars - adapter.mean.view(1, -1, 1, 1)) / adapter.std.view(1, -1, 1, 1)
        patches = model.norm_pre(model._pos_embed(model.patch_embed(normed)))[:, 1:]
    torch.testing.assert_close(m.tokens, patches.reshape(-1, 32))
    # The query reads them between its class token and its patches; the head pools the
    # original tokens only.
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        q = model.norm_pre(model._pos_embed(model.patch_embed(
            (x - adapter.mean.view(1, -1, 1, 1)) / adapter.std.view(1, -1, 1, 1))))
        seq = torch.cat([q[:, :1], patches.reshape(1, -1, 32).expand(3, -1, -1), q[:, 1:]], 1)
        for block in model.blocks:
            seq = block(seq)
        seq = torch.cat([seq[:, :1], seq[:, 1 + 32 :]], 1)
        expected = model.forward_head(model.norm(seq))
    torch.testing.assert_close(adapter.run(x, m), expected, atol=1e-5, rtol=1e-5)


def test_soft_prompt_inits_and_changes_the_output():
    adapter = adapt(vit())
    m = create_manipulation("soft_prompt", adapter, length=4, init="uniform")
    bound = (6 / (3 * 8 * 8 + 32)) ** 0.5
    assert m.prompts.abs().max() <= bound
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(adapter.run(x, m), adapter.run(x, Plain(adapter)))
    text = adapt(gpt2())
    vocab_init = create_manipulation("soft_prompt", text, length=3, init="vocab")
    table = text.vocab_embeddings
    assert all(any(torch.equal(p, row) for row in table) for p in vocab_init.prompts)
    with pytest.raises(ValueError, match="needs a text model"):
        create_manipulation("soft_prompt", adapter, init="vocab")


def test_embedding_projection_removes_the_direction():
    adapter = adapt(gpt2())
    u = torch.randn(32)
    m = create_manipulation("embedding_projection", adapter, directions=u)
    tokens = m.transform_embeddings(ids(), adapter.embed)
    assert (tokens @ (u / u.norm())).abs().max() < 1e-5
    again = m.transform_embeddings(ids(), lambda _: tokens)
    torch.testing.assert_close(again, tokens)  # a projection: idempotent


def test_fixed_embedding_offset_is_the_mean_embedding_difference():
    model = gpt2()
    adapter = adapt(model)
    pos, neg = ids(3, seed=1), ids(3, seed=2)
    m = create_manipulation(
        "fixed_embedding_offset", adapter, positives=pos, negatives=neg, coefficient=2.0
    )
    e = model.get_input_embeddings()
    expected = 2.0 * (e(pos).mean((0, 1)) - e(neg).mean((0, 1)))
    torch.testing.assert_close(m.vector, expected)


def test_reprogramming_layer_maps_series_into_the_embedding_space():
    vision = adapt(vit())
    m = create_manipulation(
        "reprogramming_layer", vision, patch_len=8, stride=8, num_prototypes=6
    ).eval()
    series = torch.randn(2, 64)
    assert m.vocabulary().shape == (3 * 8 * 8, 32)  # the patch embedding's pixel basis
    assert m.patches(series).shape == (2, 9, 8)  # 64 + 8 replicated, windows of 8 every 8
    assert m.reprogram(series).shape == (2, 9, 32)
    # The ViT reads the reprogrammed patches as its own: class token and position embeddings
    # added as timm adds them, then its blocks and head (written out here).
    vit_model = vision.model
    with torch.no_grad():
        tokens = m.reprogram(series)
        seq = torch.cat([vit_model.cls_token.expand(2, -1, -1), tokens], 1)
        seq = vit_model.norm_pre(seq + vit_model.pos_embed[:, : 1 + 9])
        for block in vit_model.blocks:
            seq = block(seq)
        expected = vit_model.forward_head(vit_model.norm(seq))
        torch.testing.assert_close(vision.run(series, m), expected, atol=1e-5, rtol=1e-5)

    model = gpt2()
    text = adapt(model)
    t = create_manipulation(
        "reprogramming_layer", text, patch_len=8, stride=4, prefix_ids=[7, 8], suffix_ids=[9]
    ).eval()
    series = torch.randn(2, 3, 20)  # three channels, patches joined along the sequence
    tokens = t.reprogram(series)
    assert tokens.shape == (2, 3 * 5, 32)
    e = model.get_input_embeddings()
    full = torch.cat(
        [e(torch.tensor([7, 8])).expand(2, -1, -1), tokens, e(torch.tensor([9])).expand(2, -1, -1)],
        1,
    )
    expected = model(inputs_embeds=full).logits[:, -1]
    torch.testing.assert_close(text.run(series, t), expected, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Hidden level
# ----------------------------------------------------------------------------------------------
def record_block_inputs(blocks):
    seen, handles = [], []
    for block in blocks:
        handles.append(
            block.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
        )
    return seen, handles


def test_deep_prompt_gives_every_block_its_own_prompts():
    for model in (vit(), gpt2()):
        adapter = adapt(model)
        m = create_manipulation("deep_prompt", adapter, length=2)
        blocks = model.blocks if adapter.modality == "vision" else adapter.layers
        seen, handles = record_block_inputs(blocks)
        x = torch.rand(2, 3, 32, 32) if adapter.modality == "vision" else ids()
        try:
            adapter.run(x, m)
        finally:
            for h in handles:
                h.remove()
        o = adapter.prompt_offset
        for i, h in enumerate(seen):
            torch.testing.assert_close(h[:, o : o + 2], m.prompts[i].detach().expand(2, -1, -1))


def test_demonstration_states_equal_reading_the_demonstration_first():
    """GPT-2 is causal: a demonstration's states do not depend on what follows, so prepending
    them in hidden space is exactly reading demonstration + query."""
    model = gpt2()
    adapter = adapt(model)
    demo = ids(1, 5, seed=3)
    m = create_manipulation("demonstration_states", adapter, demonstrations=demo)
    assert m.states.shape == (3, 5, 32)
    x = ids()
    expected = last_logits(model, torch.cat([demo.expand(2, -1), x], 1))
    torch.testing.assert_close(adapter.run(x, m), expected, atol=1e-5, rtol=1e-5)
    padded = {
        "input_ids": torch.cat([demo, demo]),
        "attention_mask": torch.tensor([[1] * 5, [1, 1, 0, 0, 0]]),
    }
    assert create_manipulation("demonstration_states", adapter, demonstrations=padded).length == 7


def test_steering_vector_adds_the_mean_difference_at_its_layer():
    model = gpt2()
    adapter = adapt(model)
    pos, neg = ids(3, seed=1), ids(3, seed=2)
    v = steering_vector(model, pos, neg, layer=1)
    manual = adapter.hidden_states(pos)[1].mean((0, 1)) - adapter.hidden_states(neg)[1].mean((0, 1))
    torch.testing.assert_close(v, manual)
    x = ids()
    off = create_manipulation("steering_vector", adapter, layer=1, vector=v, coefficient=0.0)
    torch.testing.assert_close(adapter.run(x, off), adapter.run(x, Plain(adapter)))
    m = create_manipulation(
        "steering_vector", adapter, layer=1, positives=pos, negatives=neg, coefficient=3.0
    )
    seen, handles = record_block_inputs(adapter.layers)
    try:
        adapter.run(x, m)
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(
        seen[1] - adapter.hidden_states(x)[1], (3.0 * v).expand(2, 6, -1), atol=1e-5, rtol=1e-5
    )
    last = steering_vector(model, pos, neg, layer=-1, pool="last")
    torch.testing.assert_close(
        last,
        adapter.hidden_states(pos)[1][:, -1].mean(0) - adapter.hidden_states(neg)[1][:, -1].mean(0),
    )


def test_concept_erasure_projects_out_the_concept_at_its_layers():
    adapter = adapt(vit())
    pos, neg = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32) * 0.5
    m = create_manipulation("concept_erasure", adapter, layers=[1], positives=pos, negatives=neg)
    u = m.basis[0]
    seen, handles = record_block_inputs(adapter.model.blocks)
    try:
        adapter.run(torch.rand(2, 3, 32, 32), m)
    finally:
        for h in handles:
            h.remove()
    assert (seen[1] @ u).abs().max() < 1e-4  # erased where asked
    assert (seen[0] @ u).abs().max() > 1e-3  # and only there
    # The two classes' mean states at that layer coincide after erasure (mean-difference guarding).
    mp = adapter.hidden_states(pos)[1].mean((0, 1))
    mn = adapter.hidden_states(neg)[1].mean((0, 1))
    proj = torch.eye(32) - torch.outer(u, u)
    torch.testing.assert_close(proj @ mp, proj @ mn)


def test_loreft_keeps_orthonormal_rows_and_its_positions():
    # A frozen copy: backward here must leave no gradient on the shared tiny GPT-2, which other
    # tests check stays gradient-free.
    adapter = adapt(copy.deepcopy(gpt2()).requires_grad_(False))
    m = create_manipulation("loreft", adapter, rank=3, layers=[0], positions=("last", 2))
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        adapter.run(ids(), m).square().mean().backward()
        opt.step()
    r = m.interventions[0].rotate.weight
    torch.testing.assert_close(r @ r.T, torch.eye(3), atol=1e-5, rtol=1e-5)
    h = torch.randn(2, 6, 32)
    out = m.after_block(0, h)
    torch.testing.assert_close(out[:, :4], h[:, :4])
    assert not torch.allclose(out[:, 4:], h[:, 4:])
    torch.testing.assert_close(m.after_block(1, h), h)
    # The paper's formula written out independently, vector by vector and row by row of R:
    # Φ(h) = h + Σ_k R_k (W_k·h + b_k − R_k·h), with R, W, b read from the trained state.
    phi = m.interventions[0]
    R = r.detach().double()
    W, b = phi.learned.weight.detach().double(), phi.learned.bias.detach().double()
    manual = h.double().clone()
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            v = h[i, j].double()
            for k in range(R.shape[0]):
                manual[i, j] += R[k] * (torch.dot(W[k], v) + b[k] - torch.dot(R[k], v))
    torch.testing.assert_close(phi(h).double(), manual, atol=1e-5, rtol=1e-5)
    # What defines the intervention: in the subspace R the state becomes W h + b, and the
    # orthogonal complement is untouched.
    torch.testing.assert_close((phi(h).double() @ R.T), h.double() @ W.T + b, atol=1e-5, rtol=1e-5)
    rest = torch.eye(32, dtype=torch.float64) - R.T @ R
    torch.testing.assert_close(phi(h).double() @ rest, h.double() @ rest, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="positions must be"):
        create_manipulation("loreft", adapter, positions="middle")
    with pytest.raises(ValueError, match="out of range"):
        create_manipulation("loreft", adapter, layers=[5])
