"""The flagship methods added for issue 10, each pinned to its equation on a tiny backbone.

Bahng et al.'s pad prompter and ILM-VP's frame, function vectors (through the head-output hook),
in-context vectors, contextual calibration, self-consistency, and the SPSA-GC update rule with its
``update: spsa`` path through ``reference.train``. Every check compares values computed another
way (by hand from the weights, or from the formula), not shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import reference_support as support
import torch
import torch.nn.functional as F
import yaml

from reference import create_alignment, create_manipulation, registry
from reference.backbones import adapt
from reference.core import TokenBatch

pytestmark = pytest.mark.usefixtures("one_torch_thread")
one_torch_thread = support.one_torch_thread


def _gpt2():
    pytest.importorskip("transformers")
    return support.tiny_gpt2(n_positions=64, n_inner=64, init_std=0.2)


# ------------------------------------------------------------------------------ pad prompter


def test_pad_prompter_adds_a_border_to_the_full_image() -> None:
    """Bahng et al.: x' = x + v, v zero inside, Bahng's strip parameter count."""
    adapter = adapt(support.tiny_resnet(), input_size=32)
    m = create_manipulation("pad_prompter", adapter, pad=4)
    assert sum(p.numel() for p in m.parameters()) == 2 * 3 * 4 * 32 + 2 * 3 * 4 * 24
    x = support.images(2, size=32)
    out = m.transform_input(x)
    assert torch.equal(out[..., 4:28, 4:28], x[..., 4:28, 4:28])  # the image is untouched inside
    assert torch.allclose(out[..., :4, :], x[..., :4, :] + m.pad_up)  # and kept under the border
    assert torch.allclose(out[..., 4:28, :4], x[..., 4:28, :4] + m.pad_left)
    # N(0, 1) after normalisation: the pixel-space init has the model's std.
    std = adapter.std.view(-1)
    assert torch.allclose(m.pad_up.std(dim=(0, 2, 3)), std, rtol=0.35)


def test_ilm_vp_frame_shrinks_pads_and_adds_a_bounded_border() -> None:
    adapter = adapt(support.tiny_resnet(), input_size=32)
    m = create_manipulation("pad_prompter", adapter, pad=4, frame="sigmoid")
    x = support.images(2, size=24)  # already the inner size: no resize
    out = m.transform_input(x)
    assert torch.equal(out[..., 4:28, 4:28], x)
    assert torch.allclose(out[..., :4, :], torch.full_like(out[..., :4, :], 0.5))  # sigmoid(0)
    with torch.no_grad():
        m.pad_down.fill_(50.0)
        assert float(m.transform_input(x)[..., 28:, :].max()) <= 1.0  # bounded by the sigmoid


def test_padding_prompt_and_pad_prompter_are_different_designs() -> None:
    adapter = adapt(support.tiny_resnet(), input_size=32)
    frame = create_manipulation("padding_prompt", adapter, pad=4)
    x = support.images(1, size=32)
    # The concatenative frame replaces the border (the image is shrunk inside); the pad
    # prompter keeps the whole image under its border.
    assert not torch.allclose(frame.transform_input(x)[..., 4:28, 4:28], x[..., 4:28, 4:28])
    assert "Bahng" not in registry.get_manipulation("padding_prompt").__doc__.split("\n")[0]


# --------------------------------------------------------------------------- function vectors


def test_head_outputs_decompose_the_attention_output() -> None:
    """Σ_h project_head(h) + bias = W_O(z): the hook reads what the projection reads."""
    adapter = adapt(_gpt2())
    ids = support.token_batch("gpt2", 2, seq_len=6)
    z = adapter.head_outputs(ids, [1])[1]  # (B, N, H, d)
    proj = adapter.out_projection(1)
    full = proj(z.flatten(2))[0, 3]
    parts = sum(adapter.project_head(1, h, z[0, 3, h]) for h in range(adapter.num_heads))
    assert torch.allclose(parts + proj.bias, full, atol=1e-5)


def test_function_vector_is_the_summed_mean_head_output_through_w_o() -> None:
    model = _gpt2()
    adapter = adapt(model)
    prompts = support.token_batch("gpt2", 3, seq_len=6, seed=4)
    heads = [(0, 1), (1, 0)]
    v = registry.get_manipulation("function_vector")
    fv = create_manipulation("function_vector", adapter, layer=1, heads=heads, prompts=prompts)
    # By hand: GPT-2's c_proj is a Conv1D with weight (H·d, D); head h owns rows h·d … (h+1)·d.
    seen = adapter.head_outputs(prompts, [0, 1])
    last = TokenBatch.coerce(prompts).mask().sum(1) - 1  # right padding: last real token
    d = adapter.head_dim
    expected = torch.zeros(adapter.embed_dim)
    for layer, h in heads:
        mean = seen[layer][torch.arange(3), last, h].mean(0)
        w = model.transformer.h[layer].attn.c_proj.weight[h * d : (h + 1) * d]
        expected += mean @ w
    assert v is type(fv) and torch.allclose(fv.vector, expected, atol=1e-5)


def test_function_vector_is_added_at_the_last_token_of_its_layer_only() -> None:
    adapter = adapt(_gpt2())
    vec = torch.randn(adapter.embed_dim)
    fv = create_manipulation("function_vector", adapter, layer=1, vector=vec)
    batch = TokenBatch.coerce(support.token_batch("gpt2", 2, seq_len=6))
    fv.transform_input(batch)
    h = torch.randn(2, 6, adapter.embed_dim)
    out = fv.before_block(1, h)
    assert torch.equal(fv.before_block(0, h), h)
    assert torch.allclose(out[0, 5], h[0, 5] + vec) and torch.equal(out[0, :5], h[0, :5])
    assert torch.allclose(out[1, 3], h[1, 3] + vec)  # row 1 is right-padded: last real is 3
    assert torch.equal(out[1, 4:], h[1, 4:])


def test_indirect_effects_pick_the_heads_that_restore_the_answer() -> None:
    """Causal mediation (Todd et al.): patching a head's mean clean output into corrupted
    prompts; with nothing corrupted and one repeated prompt the patch changes nothing."""
    from reference.manipulations.hidden_additive import indirect_effects, top_heads

    adapter = adapt(_gpt2())
    g = torch.Generator().manual_seed(0)
    demos = torch.randint(5, 100, (3, 2), generator=g)
    query = torch.randint(5, 100, (4, 1), generator=g)
    clean = torch.cat([demos.flatten().expand(4, -1), query], 1)
    shuffled = demos[:, [0, 0]].clone()
    shuffled[:, 1] = demos[[2, 0, 1], 1]  # each input now shows another demonstration's label
    corrupted = torch.cat([shuffled.flatten().expand(4, -1), query], 1)
    answers = [7, 8, 9, 10]
    effects = indirect_effects(adapter, clean, corrupted, answers)
    assert effects.shape == (adapter.num_layers, adapter.num_heads)
    assert effects.abs().max() > 0
    same = clean[:1].expand(4, -1)
    assert torch.allclose(indirect_effects(adapter, same, same, answers), torch.zeros_like(effects),
                          atol=1e-6)
    best = top_heads(effects, 2)
    assert effects[best[0]] == effects.max() and effects[best[0]] >= effects[best[1]]
    assert len(set(best)) == 2


# ------------------------------------------------------------------------ in-context vectors


def test_in_context_vector_turns_the_states_without_changing_their_norm() -> None:
    adapter = adapt(_gpt2())
    inputs = support.token_batch("gpt2", 3, seq_len=6, seed=5)["input_ids"]
    targets = support.token_batch("gpt2", 3, seq_len=6, seed=6)["input_ids"]
    icv = create_manipulation("in_context_vector", adapter, inputs=inputs, targets=targets,
                              strength=0.5)
    assert torch.allclose(icv.vector.norm(dim=-1), torch.ones(adapter.num_layers))
    h = torch.randn(2, 4, adapter.embed_dim) * 3
    out = icv.after_block(0, h)
    assert torch.allclose(out.norm(dim=-1), h.norm(dim=-1), atol=1e-4)
    moved = F.cosine_similarity(out, icv.vector[0].expand_as(out), dim=-1)
    before = F.cosine_similarity(h, icv.vector[0].expand_as(h), dim=-1)
    assert (moved > before).all()  # every state turned towards the in-context direction
    # The direction is the first principal direction of the paired differences: no other unit
    # direction explains more of their squared length; and it points along their mean.
    from reference.manipulations.hidden_additive.in_context_vector import (
        _last_states,
        in_context_vector,
    )

    delta = (_last_states(adapter, targets) - _last_states(adapter, inputs)).flatten(1)
    u = in_context_vector(adapter, inputs, targets).flatten()
    assert float(u.norm()) == pytest.approx(1.0, abs=1e-5)
    others = F.normalize(torch.randn(200, u.numel(), generator=torch.Generator().manual_seed(0)), dim=1)
    assert float((delta @ u).pow(2).sum()) >= float((delta @ others.T).pow(2).sum(0).max())
    assert float(torch.dot(u, delta.mean(0))) > 0
    assert torch.allclose(icv.vector, F.normalize(u.view_as(icv.vector), dim=-1), atol=1e-6)


# --------------------------------------------------------------------- contextual calibration


def test_contextual_calibration_equation() -> None:
    cal = create_alignment("contextual_calibration", 10, 3, token_ids=[4, 7, 9])
    content_free = torch.randn(2, 10)
    cal.fit(content_free)
    p_cf = content_free[:, [4, 7, 9]].softmax(-1).mean(0)
    p_cf = p_cf / p_cf.sum()
    x = torch.randn(5, 10)
    p = x[:, [4, 7, 9]].softmax(-1)
    q = (p / p_cf) / (p / p_cf).sum(-1, keepdim=True)  # W = diag(p_cf)^-1, b = 0, renormalised
    assert torch.allclose(cal(x).exp(), q, atol=1e-6)
    # One content-free input: its calibrated prediction is uniform.
    cal.fit(content_free[:1])
    assert torch.allclose(cal(content_free[:1]).exp(), torch.full((1, 3), 1 / 3), atol=1e-6)


# -------------------------------------------------------------------------- self-consistency


def test_self_consistency_votes_over_parsed_paths() -> None:
    sc = create_alignment("self_consistency", 100, 3)
    shares = sc(torch.tensor([[1, 1, 2, -1], [-1, -1, -1, -1]])).exp()
    assert torch.allclose(shares[0], torch.tensor([0.0, 2 / 3, 1 / 3]))
    assert torch.allclose(shares[1], torch.full((3,), 1 / 3))  # nothing parsed: no preference
    with pytest.raises(TypeError, match="parsed answers"):
        sc(torch.randn(2, 100))


def test_self_consistency_samples_paths_and_takes_the_majority() -> None:
    from reference.alignments import AnswerExtractor, sample_paths

    model = _gpt2()
    adapter = adapt(model)
    ids = {"input_ids": torch.tensor([[5, 6, 7, 8]])}
    paths = sample_paths(adapter, ids, num_paths=6, max_new_tokens=5, seed=0)
    assert len(paths) == 1 and len(paths[0]) == 6 and all(len(p) <= 5 for p in paths[0])
    assert len({tuple(p) for p in paths[0]}) > 1  # sampled, not greedy
    words = {i: f"w{i}" for i in range(100)}
    decode = lambda toks: " ".join(words[t] for t in toks)
    extract = AnswerExtractor(labels=["w10", "w20", "w30"], fallback_last_number=False)
    sc = create_alignment("self_consistency", 100, 3)
    shares = sc.predict(adapter, ids, decode, extract, num_paths=6, max_new_tokens=5, seed=0)
    votes = torch.tensor([[extract(decode(p)) for p in paths[0]]])
    assert torch.allclose(shares, sc(votes))  # same seed: the same paths, the same vote


# ------------------------------------------------------------------------------ SPSA (BlackVIP)


def test_spsa_estimate_points_along_the_gradient() -> None:
    from reference.zeroth_order import SPSA, SPSAConfig

    target = torch.linspace(-1, 1, 8)
    theta = torch.nn.Parameter(torch.zeros(8))
    opt = SPSA([theta], SPSAConfig(samples=400, c=1e-3))
    loss = lambda: ((theta - target) ** 2).sum()
    ghat, _ = opt.estimate(loss, theta.detach().clone(), 1e-3)
    true = 2 * (theta.detach() - target)
    assert F.cosine_similarity(ghat, true, dim=0) > 0.9


def test_spsa_gc_update_matches_the_formula() -> None:
    from reference.zeroth_order import SPSA, SPSAConfig

    theta = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    cfg = SPSAConfig(a=0.1, c=0.01, o=1.0, alpha=0.4, gamma=0.1, momentum=0.9, samples=1)
    opt = SPSA([theta], cfg)
    opt.direction = lambda n: torch.tensor([1.0, -0.5])  # a fixed Δ, so ĝ is known
    loss = lambda: (theta**2).sum()
    expected, m = theta.detach().clone(), None
    for k in (1, 2, 3):
        ak, ck = 0.1 / (k + 1.0) ** 0.4, 0.01 / k**0.1
        delta = torch.tensor([1.0, -0.5])
        plus = ((expected + ck * delta) ** 2).sum()
        minus = ((expected - ck * delta) ** 2).sum()
        ghat = (plus - minus) / (2 * ck * delta)
        m = ghat if m is None else 0.9 * m + ghat
        expected = expected - ak * (ghat + 0.9 * m)
        opt.step(loss)
        assert torch.allclose(theta.detach(), expected, atol=1e-5)
    assert theta.grad is None  # no backward pass, ever


def test_spsa_state_round_trip_continues_identically() -> None:
    from reference.zeroth_order import SPSA

    def run(resume: bool) -> torch.Tensor:
        theta = torch.nn.Parameter(torch.ones(4))
        loss = lambda: ((theta - 3) ** 2).sum()
        opt = SPSA([theta])
        for _ in range(3):
            opt.step(loss)
        if resume:
            state, saved = opt.state_dict(), theta.detach().clone()
            theta2 = torch.nn.Parameter(saved)
            opt = SPSA([theta2])
            opt.load_state_dict(state)
            theta = theta2
            loss = lambda: ((theta - 3) ** 2).sum()
        for _ in range(3):
            opt.step(loss)
        return theta.detach()

    assert torch.equal(run(False), run(True))


def test_train_with_update_spsa_moves_the_manipulation_without_gradients(tmp_path: Path) -> None:
    from reference.config import ConfigError
    from reference.train import main

    g = torch.Generator().manual_seed(0)
    y = torch.arange(24) % 3
    x = (torch.rand(24, 3, 24, 24, generator=g) * 0.3 + y.view(-1, 1, 1, 1) * 0.3).clamp(0, 1)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    cfg = {
        "model": "vit_tiny_patch16_224", "pretrained": False,
        "model_kwargs": support.VIT_KWARGS, "num_classes": 3,
        "manipulation": {"name": "pad_prompter", "kwargs": {"pad": 4}}, "alignment": "linear",
        "data": {"type": "tensors", "train": str(tmp_path / "d.pt"), "val_fraction": 0.25},
        "image_size": 24, "batch_size": 9, "epochs": 1, "num_workers": 0,
        "update": "spsa", "update_kwargs": {"samples": 1},
        "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    assert main(["--config", str(path)]) == 0
    from reference.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "out" / "last.pt")
    assert ckpt["optimizer"]["k"] == 2  # 18 training samples, batch 9: two SPSA steps
    torch.manual_seed(0)  # the same init as the run: the prompt must have moved
    from reference.config import load_config
    from reference.train import build_model, build_reprogrammed

    loaded = load_config(path)
    fresh = build_reprogrammed(loaded, build_model(loaded)).trainable_state_dict()
    moved = ckpt["trainable"]["manipulation.pad_up"] - fresh["manipulation.pad_up"]
    assert float(moved.abs().max()) > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["final"]["lr"] > 0
    cfg["update_kwargs"] = {"samples": 0}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="update_kwargs: samples must be at least 1"):
        from reference.train import make_update

        make_update(load_config(path), [torch.nn.Parameter(torch.zeros(1))])


def test_bench_reference_all_measures_every_registered_method(capsys) -> None:
    """benchmarks/bench_reference.py --all (tiny CPU settings here): one row per method."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reference.py"
    spec = importlib.util.spec_from_file_location("bench_reference_all", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(["--all", "--device", "cpu", "--size", "tiny", "--steps", "1",
                       "--warmup", "0", "--batch", "4", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    expected = set(registry.list_manipulations()) | set(registry.list_alignments())
    assert expected - {"self_consistency"} <= rows
