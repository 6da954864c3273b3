"""Acceptance test: every tag combination of every paper in data/papers.yaml has a working reference.

For each unique (λ, ℓ, τ, ω) that some paper is tagged with, and for each modality (a tiny timm
ViT for "vision", a tiny GPT-2 and a tiny BERT for "text"), the registry's default manipulation
for the cell and default alignment for ω are assembled into a ``Reprogrammed`` model around a
randomly initialised backbone, and the test checks what the formula ``y = O_ω(f(I(x)))`` with a
frozen ``f`` promises:

* the forward pass gives one logit per target class;
* the backbone's parameters never receive gradients and are bit-for-bit unchanged after training;
* gradients reach the manipulation/alignment parameters, and nothing else is trainable;
* λ = learnable: the manipulation has parameters, and a few Adam steps on a small fixed batch
  lower the loss (statistical alignments follow the trainer's initialize/observe/refresh
  protocol);
* λ = fixed: the manipulation has no parameters and changes the model's output
  deterministically; with nothing trainable at all (identity/rule-based/statistical ω), there are
  zero trainable parameters.

Combinations are de-duplicated across papers, and each test id names the cell and the papers
that need it, so a missing reference fails with a message saying which papers are uncovered.
ω = statistical runs with the default (ILM) and again with BLM and BLM+.

A paper that names its own reference (``reference:`` in data/papers.yaml) is also run with *that*
implementation (and preset), and the property that defines the method is asserted: the ILM
mapping is one-to-one, calibration makes the content-free prediction uniform, a function vector
moves the zero-shot output towards the in-context one (further than a random vector), a prefix
equals the model reading real tokens' keys and values, the pad prompter keeps the image whole
under its border, and so on (``PROPERTIES``).
The database must exist and load: if it does not, the suite fails (it never skips).
"""

from __future__ import annotations

import copy
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import reference_support as support
import torch
import torch.nn.functional as F
from reprogrammability import taxonomy

from reference.core import TokenBatch

ROOT = Path(__file__).resolve().parents[1]
DATABASE = ROOT / "data" / "papers.yaml"

#: Backbones the combinations run on; "text" runs on a causal and on a masked LM.
BACKBONES: dict[str, str] = {"vit": "vision", "gpt2": "text", "bert": "text"}
MODALITIES = ("vision", "text")

NUM_CLASSES = 4  # target classes for every ω except identity (which keeps the source classes)
VISION_CLASSES = 16  # the tiny ViT's source classes
VOCAB = support.VOCAB  # the tiny language models' vocabulary (= their source logits)
MASK_ID = support.PAPER_PROFILE.mask_id  # the tiny BERT's [MASK] token (4 here)
BATCH = support.PAPER_PROFILE.batch
STEPS = 20
STEPS_PER_EPOCH = 5  # statistical mappings are refreshed at each "epoch" end
LR = 0.05
#: Random language models initialised at the usual std 0.02 are nearly blind to their input (a
#: prompt moves the answer logits by ~1e-4); a wider init gives them a measurable response.
TEXT_INIT_STD = 0.2


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and pytest -n 2 already uses both cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ papers


class Combination(NamedTuple):
    configuration: str
    location: str
    operator: str
    alignment: str

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.configuration, self.location, self.operator)

    def label(self) -> str:
        return "-".join(self)


def _short(paper: Any) -> str:
    """``Elsayed2019``: ASCII surname of the first author and the year, for test ids."""
    surname = paper.authors[0].split()[-1] if paper.authors else "anon"
    ascii_name = unicodedata.normalize("NFKD", surname).encode("ascii", "ignore").decode()
    return f"{''.join(c for c in ascii_name if c.isalnum()) or 'anon'}{paper.year}"


def _describe(paper: Any) -> str:
    return f"{paper.title!r} ({_short(paper)}, data/papers.yaml:{paper.line})"


def _load_database() -> tuple[list[Any], str | None]:
    """Papers from data/papers.yaml and, instead of raising, the reason they could not be read."""
    if not DATABASE.is_file():
        return [], f"{DATABASE.relative_to(ROOT)} does not exist"
    try:
        from reprogrammability import validate
    except ImportError as exc:
        return [], f"cannot import reprogrammability.validate: {exc}"
    try:
        result = validate.load(DATABASE)
    except Exception as exc:  # noqa: BLE001 - reported by the test below, not at collection
        return [], f"validate.load({DATABASE.relative_to(ROOT)}) raised {type(exc).__name__}: {exc}"
    if result.problems:
        return list(result.papers), "data/papers.yaml has problems:\n" + "\n".join(
            p.format() for p in result.problems
        )
    return list(result.papers), None


PAPERS, LOAD_ERROR = _load_database()


def _combinations(papers: list[Any]) -> dict[Combination, list[Any]]:
    by_combination: dict[Combination, list[Any]] = defaultdict(list)
    for paper in papers:
        for combination in paper.combinations():
            by_combination[Combination(*combination)].append(paper)
    order = {
        field: {k: i for i, k in enumerate(a.keys)} for field, a in taxonomy.AXES_BY_FIELD.items()
    }
    fields = [a.field for a in taxonomy.AXES]
    return dict(
        sorted(by_combination.items(), key=lambda kv: [order[f][v] for f, v in zip(fields, kv[0])])
    )


COMBINATIONS = _combinations(PAPERS)


def _case_id(combination: Combination, backbone: str, papers: list[Any]) -> str:
    names = sorted({_short(p) for p in papers})
    shown = ",".join(names[:4]) + (f",+{len(names) - 4}" if len(names) > 4 else "")
    return f"{combination.label()}-{backbone}--{shown}"


#: ω = statistical is run with the default (ILM) and with BLM, the other family of the papers.
EXTRA_ALIGNMENTS: dict[str, tuple[str, ...]] = {"statistical": ("blm", "blm+")}

CASES = [
    pytest.param(combination, backbone, papers, None, id=_case_id(combination, backbone, papers))
    for combination, papers in COMBINATIONS.items()
    for backbone in BACKBONES
] + [
    pytest.param(combination, backbone, papers, name,
                 id=f"{_case_id(combination, backbone, papers)}-{name}")
    for combination, papers in COMBINATIONS.items()
    for name in EXTRA_ALIGNMENTS.get(combination.alignment, ())
    for backbone in BACKBONES
]


def test_database_loads_and_has_papers():
    assert LOAD_ERROR is None, LOAD_ERROR
    assert PAPERS, "data/papers.yaml lists no papers"
    assert COMBINATIONS, "no paper spans a tag combination"


def test_every_cell_and_alignment_has_a_default_for_both_modalities():
    """A new paper with any valid tag combination is covered without touching this file."""
    from reference import registry

    missing = []
    for modality in MODALITIES:
        for cell in taxonomy.manipulation_cells():
            try:
                registry.default_manipulation(cell, modality)
            except KeyError:
                missing.append(f"{modality} manipulation for {taxonomy.cell_label(cell)}")
        for kind in taxonomy.ALIGNMENT.keys:
            try:
                registry.default_alignment(kind, modality)
            except KeyError:
                missing.append(f"{modality} alignment for ω = {kind}")
    assert not missing, "no default reference for:\n" + "\n".join(missing)


# ------------------------------------------------------------------------------- tiny models


def _pristine_backbone(backbone: str) -> torch.nn.Module:
    """A randomly initialised tiny model (built once per worker; tests use deep copies). The
    ViT is a plain ``VisionTransformer`` (no timm ``pretrained_cfg``); the language models use a
    wider init (``TEXT_INIT_STD``), 64 positions and a 64-wide GPT-2 MLP."""
    if backbone == "vit":
        return support.tiny_vit(num_classes=VISION_CLASSES, from_timm_registry=False)
    pytest.importorskip("transformers")
    if backbone == "gpt2":
        return support.tiny_gpt2(n_positions=64, n_inner=64, init_std=TEXT_INIT_STD)
    return support.tiny_bert(max_position_embeddings=64, init_std=TEXT_INIT_STD)


def _example(name: str, backbone: str) -> tuple[dict[str, Any], Any, Any]:
    """Constructor kwargs, a batch of target inputs, and what the unmanipulated model would read
    (the shared table in tests/reference_support.py, with this file's ``PAPER_PROFILE``).

    Most manipulations take the backbone's own inputs; the rest need context (demonstrations,
    marker boxes, directions) or consume another input type (a signal, a target vocabulary), for
    which "the unmanipulated model" has no meaning (``None``). A default manipulation not listed
    there gets no kwargs and the backbone's plain inputs.
    """
    return support.example(name, backbone, backbone == "vit", support.PAPER_PROFILE)


def _alignment_kwargs(name: str, num_classes: int) -> dict[str, Any]:
    if name == "verbalizer":  # label words: one made-up token per class
        return {"token_ids": [[10 + 3 * k] for k in range(num_classes)]}
    return {}


def _build(combination: Combination, backbone: str, papers: list[Any], alignment_name=None):
    from reference import registry

    modality = BACKBONES[backbone]
    needed_by = "\n  ".join(_describe(p) for p in papers)
    missing = []
    try:
        manipulation = registry.default_manipulation(combination.cell, modality)
    except KeyError:
        missing.append(f"manipulation for cell {taxonomy.cell_label(combination.cell)}")
    try:
        alignment = alignment_name or registry.default_alignment(combination.alignment, modality)
    except KeyError:
        missing.append(f"alignment for ω = {combination.alignment}")
    if missing:
        pytest.fail(
            f"no {modality} reference {' and no '.join(missing)}; needed by:\n  {needed_by}",
            pytrace=False,
        )
    model = copy.deepcopy(_pristine_backbone(backbone))
    source = VISION_CLASSES if backbone == "vit" else VOCAB
    num_classes = source if combination.alignment == "identity" else NUM_CLASSES
    manipulation_kwargs, x, plain_x = _example(manipulation, backbone)
    torch.manual_seed(1)
    reprogrammed = registry.build(
        manipulation,
        alignment,
        model,
        num_classes,
        manipulation_kwargs=manipulation_kwargs,
        alignment_kwargs=_alignment_kwargs(alignment, num_classes),
        adapter_kwargs={"mask_token_id": MASK_ID} if backbone == "bert" else {},
    )
    return reprogrammed, model, num_classes, f"{manipulation} + {alignment}", x, plain_x


def _plain_source_logits(reprogrammed, x) -> torch.Tensor:
    """The frozen model's logits on the unmanipulated input (a manipulation with no hooks)."""
    from reference.core import Manipulation

    with torch.no_grad():
        return reprogrammed.adapter.run(x, Manipulation(reprogrammed.adapter))


# ----------------------------------------------------------------------------------- the test


@pytest.mark.parametrize("combination, backbone, papers, alignment_name", CASES)
def test_paper_combination_has_a_working_reference(combination, backbone, papers, alignment_name):
    reprogrammed, model, num_classes, what, x, plain_x = _build(
        combination, backbone, papers, alignment_name
    )
    context = f"{combination.label()} on {backbone} ({what})"
    y = torch.randint(0, num_classes, (BATCH,), generator=torch.Generator().manual_seed(2))

    manipulation_params = {id(p) for p in reprogrammed.manipulation.parameters()}
    alignment_params = {id(p) for p in reprogrammed.alignment.parameters()}
    trainable = reprogrammed.trainable_parameters()
    assert all(id(p) in manipulation_params | alignment_params for p in trainable), context
    assert all(not p.requires_grad for p in model.parameters()), f"{context}: backbone not frozen"
    assert {id(p) for p in reprogrammed.parameters() if p.requires_grad} == {
        id(p) for p in trainable
    }
    counts = reprogrammed.parameter_counts()
    assert counts["trainable"] == sum(p.numel() for p in trainable)

    manipulation_trainable = [p for p in reprogrammed.manipulation.parameters() if p.requires_grad]
    if combination.configuration == "learnable":
        assert manipulation_trainable, f"{context}: a learnable manipulation without parameters"
    else:
        assert not manipulation_trainable, f"{context}: a fixed manipulation with parameters"

    frozen_before = {k: v.clone() for k, v in model.state_dict().items()}
    reprogrammed.train()
    assert not any(m.training for m in model.modules()), f"{context}: backbone left eval mode"

    alignment = reprogrammed.alignment
    if alignment.needs_statistics:  # the one pass before training, as the trainer makes it
        with torch.no_grad():
            alignment.initialize(reprogrammed.source_logits(x), y)

    out = reprogrammed(x)
    assert out.shape == (BATCH, num_classes), f"{context}: output shape {tuple(out.shape)}"
    assert torch.isfinite(out).all(), f"{context}: non-finite output"

    if combination.configuration == "fixed":
        again = reprogrammed(x)
        assert torch.equal(out, again), f"{context}: a fixed manipulation is not deterministic"
        if plain_x is not None:
            plain = _plain_source_logits(reprogrammed, plain_x)
            with torch.no_grad():
                manipulated = reprogrammed.source_logits(x)
            assert plain.shape == manipulated.shape
            assert not torch.allclose(manipulated, plain), (
                f"{context}: the manipulation leaves the model's output unchanged"
            )

    if not trainable:
        assert counts["trainable"] == 0
        if alignment.needs_statistics:  # an epoch of statistics still runs without parameters
            with torch.no_grad():
                alignment.observe(reprogrammed.source_logits(x), y)
            alignment.refresh()
            assert torch.equal(reprogrammed(x), reprogrammed(x)), context
        for key, value in model.state_dict().items():
            assert torch.equal(value, frozen_before[key]), f"{context}: backbone {key} changed"
        return

    omega = getattr(alignment, "omega", None)
    if alignment_name is not None and omega is not None and torch.allclose(
        omega, omega[:, :1].expand_as(omega)
    ):
        # BLM's columns all equal: every target reads the same mixture, so no gradient can
        # reach the manipulation. That is only right when the frozen model's predictions carry
        # no information, i.e. it predicts one source class for every input of the batch.
        with torch.no_grad():
            predicted = reprogrammed.source_logits(x).argmax(-1)
        assert predicted.unique().numel() == 1, f"{context}: BLM degenerate on varied predictions"
        for key, value in model.state_dict().items():
            assert torch.equal(value, frozen_before[key]), f"{context}: backbone {key} changed"
        return

    optimizer = torch.optim.Adam(trainable, lr=LR)

    def loss_now() -> float:
        with torch.no_grad():
            return F.cross_entropy(reprogrammed(x), y).item()

    initial = loss_now()
    for step in range(STEPS):
        source_logits = reprogrammed.source_logits(x)
        loss = F.cross_entropy(alignment(source_logits), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            assert all(p.grad is None for p in model.parameters()), (
                f"{context}: backbone got gradients"
            )
            grads = [p.grad for p in trainable if p.grad is not None]
            assert grads and any(g.abs().sum() > 0 for g in grads), (
                f"{context}: no gradient reached"
            )
            if manipulation_trainable:
                assert any(
                    p.grad is not None and p.grad.abs().sum() > 0 for p in manipulation_trainable
                ), f"{context}: no gradient reached the manipulation"
        optimizer.step()
        if alignment.needs_statistics:
            alignment.observe(source_logits.detach(), y)
            if (step + 1) % STEPS_PER_EPOCH == 0:
                alignment.refresh()
    final = loss_now()

    for key, value in model.state_dict().items():
        assert torch.equal(value, frozen_before[key]), f"{context}: backbone {key} changed"
    assert final < initial, f"{context}: loss did not decrease ({initial:.4f} -> {final:.4f})"

    state = reprogrammed.trainable_state_dict()
    assert state and not any(k.startswith(("adapter.", "model.")) for k in state)


# ------------------------------------------------------------ each paper's own reference
#
# A paper that names its reference (data/papers.yaml `reference:`) is run with *that*
# implementation, not the cell's default, and the property that defines the method is
# asserted (PROPERTIES, by manipulation or alignment name); every reference also builds, runs,
# keeps the backbone frozen and, when it learns, moves its output with one optimiser step.


def _references(papers: list[Any]) -> dict[tuple[str, str, str | None], list[Any]]:
    out: dict[tuple[str, str, str | None], list[Any]] = defaultdict(list)
    for paper in papers:
        ref = paper.reference
        if ref is not None:
            out[(ref.manipulation, ref.alignment, ref.preset)].append(paper)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")))


REFERENCES = _references(PAPERS)
REFERENCE_CASES = [
    pytest.param(m, a, preset, papers,
                 id=f"{m}+{a}{'@' + preset if preset else ''}--"
                    + ",".join(sorted({_short(p) for p in papers})[:3]))
    for (m, a, preset), papers in REFERENCES.items()
]


def _reference_backbone(manipulation: str, alignment: str, papers: list[Any]) -> str:
    """CLIP for CLIP methods, a masked LM for WARP, else the papers' own source domain."""
    from reference import registry

    modalities = set(registry.get_manipulation(manipulation).modalities)
    modalities &= set(registry.get_alignment(alignment).modalities) | {"vision-language"}
    if "vision-language" in modalities:
        return "clip"
    if manipulation == "warp" or alignment == "class-embeddings":
        return "bert"  # WARP reads the [MASK] position of a masked LM
    texts = any(p.domain and "text" in p.domain.source for p in papers)
    if "text" in modalities and (texts or "vision" not in modalities):
        return "gpt2"
    return "vit"


def _reference_model(backbone: str) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """A fresh tiny model, its adapter kwargs and its number of source classes."""
    if backbone == "clip":
        pytest.importorskip("transformers")
        return copy.deepcopy(support.tiny_clip()), {"class_prompts": support.clip_prompts()}, \
            len(support.CLIP_CLASS_NAMES)
    model = copy.deepcopy(_pristine_backbone(backbone))
    kwargs = {"mask_token_id": MASK_ID} if backbone == "bert" else {}
    return model, kwargs, VISION_CLASSES if backbone == "vit" else VOCAB


def _reference_alignment_kwargs(name: str, num_classes: int) -> dict[str, Any]:
    if name == "contextual_calibration":
        return {"token_ids": [10 + 3 * k for k in range(num_classes)]}
    return _alignment_kwargs(name, num_classes)


def _build_reference(manipulation: str, alignment: str, preset: str | None, backbone: str):
    from reference import registry
    from reference.presets import build_preset

    model, adapter_kwargs, source = _reference_model(backbone)
    num_classes = source if alignment == "identity" else NUM_CLASSES
    example_backbone = "vit" if backbone == "clip" else backbone
    manipulation_kwargs, x, plain_x = support.example(
        manipulation, example_backbone, backbone in ("vit", "clip"), support.PAPER_PROFILE
    )
    if backbone == "clip":
        manipulation_kwargs = {"length": 2, **({"meta_reduction": 4} if manipulation == "cocoop"
                                                else {})}
    kwargs = {
        "manipulation_kwargs": manipulation_kwargs,
        "alignment_kwargs": _reference_alignment_kwargs(alignment, num_classes),
        "adapter_kwargs": adapter_kwargs,
    }
    torch.manual_seed(1)
    if preset is not None:
        reprogrammed = build_preset(preset, model, num_classes, **kwargs)
    else:
        reprogrammed = registry.build(manipulation, alignment, model, num_classes, **kwargs)
    return reprogrammed, model, num_classes, x, plain_x


# -- defining properties, one function per method --------------------------------------------


def _plain(reprogrammed, x):
    from reference.core import Manipulation

    with torch.no_grad():
        return reprogrammed.adapter.run(x, Manipulation(reprogrammed.adapter))


def _pad_prompter(rp, x, y, papers) -> None:
    """Bahng: the image stays whole under an added border; ILM-VP: the image is shrunk into a
    frame whose values the sigmoid bounds to (0, 1)."""
    m = rp.manipulation
    p = m.pad
    with torch.no_grad():
        out = m.transform_input(x)
        if m.frame == "additive":
            full = F.interpolate(x, size=m.canvas, mode="bilinear", align_corners=False)
            assert torch.equal(out[..., p:-p, p:-p], full[..., p:-p, p:-p])
            assert not torch.allclose(out[..., :p, :], full[..., :p, :])
        else:
            inner = F.interpolate(x, size=m.inner, mode="bilinear", align_corners=False)
            assert torch.equal(out[..., p:-p, p:-p], inner)
            border = out[..., :p, :]
            assert float(border.min()) > 0 and float(border.max()) < 1


def _ilm(rp, x, y, papers) -> None:
    """ILM-VP: the label mapping is one-to-one (distinct source classes), refreshed from the
    prompted model's predictions."""
    a = rp.alignment
    with torch.no_grad():
        a.initialize(rp.source_logits(x), y)
    mapping = a.mapping.tolist()
    assert len(set(mapping)) == len(mapping) == a.num_target


def _blm(rp, x, y, papers) -> None:
    """BLM: every target column of ω is a distribution over source labels."""
    a = rp.alignment
    with torch.no_grad():
        a.initialize(rp.source_logits(x), y)
    assert torch.allclose(a.omega.sum(0), torch.ones(a.num_target), atol=1e-5)
    assert (a.omega >= 0).all()


def _contextual_calibration(rp, x, y, papers) -> None:
    """Zhao et al.: fitted on the content-free input, calibration makes its prediction uniform
    (and it was not uniform before)."""
    from reference.alignments import calibrate

    content_free = {"input_ids": torch.tensor([[30, 31]])}  # stands for "N/A" in the prompt
    before = calibrate(rp, content_free)
    assert not torch.allclose(before, torch.full_like(before, 1 / NUM_CLASSES), atol=1e-3)
    with torch.no_grad():
        after = rp(content_free).exp()
    assert torch.allclose(after, torch.full_like(after, 1 / NUM_CLASSES), atol=1e-5)


def _function_vector(rp, x, y, papers) -> None:
    """Todd et al.: adding the function vector to a zero-shot query moves the model's output
    towards what it answers with the demonstrations in context, and a random vector of the
    same norm does not move it as far."""
    from reference import create_manipulation

    adapter = rp.adapter
    g = torch.Generator().manual_seed(3)
    demos = torch.randint(5, VOCAB, (6, 2), generator=g).flatten()
    queries = torch.randint(5, VOCAB, (10, 1), generator=g)
    icl = torch.cat([demos.expand(10, -1), queries], 1)
    heads = [(layer, h) for layer in range(adapter.num_layers) for h in range(adapter.num_heads)]
    fv = create_manipulation("function_vector", adapter, layer=0, heads=heads, prompts=icl)
    noise = torch.randn(adapter.embed_dim, generator=g)
    control = create_manipulation("function_vector", adapter, layer=0,
                                  vector=noise / noise.norm() * fv.vector.norm())
    with torch.no_grad():
        target = _plain(rp, icl).log_softmax(-1)

        def gap(manipulation) -> float:
            out = adapter.run(queries, manipulation).log_softmax(-1)
            return F.kl_div(out, target, log_target=True, reduction="batchmean").item()

        from reference.core import Manipulation

        zero_shot, with_fv, with_noise = gap(Manipulation(adapter)), gap(fv), gap(control)
    assert with_fv < zero_shot and with_fv < with_noise


def _in_context_vector(rp, x, y, papers) -> None:
    """Liu et al.: the vector is the demonstrations' principal shift, and it turns a new query's
    final states towards it."""
    from reference.core import Manipulation
    from reference.backbones import RecordStates

    m, adapter = rp.manipulation, rp.adapter
    queries = support.token_batch("gpt2", 4, seed=9)

    def final(manipulation) -> torch.Tensor:
        capture = RecordStates(adapter, at="output")
        hooks = manipulation

        class Both(Manipulation):
            cell = ("fixed", "hidden", "additive")

            def after_block(self, i, h):
                return capture.after_block(i, hooks.after_block(i, h))

        batch = queries
        with torch.no_grad():
            adapter.forward_embeddings(adapter.embed(batch), batch["attention_mask"], Both(adapter))
        return capture.states[-1]

    direction = m.vector[-1]
    plain, shifted = final(Manipulation(adapter)), final(m)
    cos = lambda h: F.cosine_similarity(h, direction.expand_as(h), dim=-1).mean()
    assert cos(shifted) > cos(plain)


def _prefix_tuning(rp, x, y, papers) -> None:
    """Li & Liang: a prefix is what every layer reads as past keys and values; started from
    real tokens' activations, the model reads exactly those tokens in front of the input."""
    from reference import create_manipulation

    adapter = rp.adapter
    m = create_manipulation("prefix_tuning", adapter, length=3, projection_hidden=None,
                            init_ids=[11, 12, 13])
    ids = torch.randint(5, VOCAB, (2, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = adapter.model(torch.cat([torch.tensor([[11, 12, 13]] * 2), ids], 1)).logits[:, -1]
        torch.testing.assert_close(adapter.run(ids, m), expected, atol=1e-4, rtol=1e-4)


def _loreft(rp, x, y, papers) -> None:
    """Wu et al.: in the subspace R the intervened state is W h + b; outside it, unchanged."""
    phi = rp.manipulation.interventions[0]
    h = torch.randn(3, 5, rp.adapter.embed_dim)
    R = phi.rotate.weight.detach()
    with torch.no_grad():
        out = phi(h)
        torch.testing.assert_close(out @ R.T, phi.learned(h), atol=1e-5, rtol=1e-5)
        rest = torch.eye(R.shape[1]) - R.T @ R
        torch.testing.assert_close(out @ rest, h @ rest, atol=1e-5, rtol=1e-5)


def _adversarial_reprogramming(rp, x, y, papers) -> None:
    """Elsayed et al.: the program is masked out over the embedded target image."""
    m = rp.manipulation
    with torch.no_grad():
        m.weight.normal_()
        out = m.transform_input(x)
    h, w = x.shape[-2:]
    top, left = (m.canvas[0] - h) // 2, (m.canvas[1] - w) // 2
    assert torch.equal(out[..., top:top + h, left:left + w], x)
    assert not torch.allclose(out[..., :top, :], torch.full_like(out[..., :top, :], m.fill))


def _sample_specific_mask(rp, x, y, papers) -> None:
    """Cai et al.: the mask depends on the sample (not one shared pattern)."""
    m = rp.manipulation
    with torch.no_grad():
        m.pattern.fill_(1.0)
        resized = F.interpolate(x, size=m.adapter.input_size, mode="bilinear", align_corners=False)
        delta = m.transform_input(x) - resized
    assert not torch.allclose(delta[0], delta[1])


def _steering_vector(rp, x, y, papers) -> None:
    """Turner et al.: the vector is the activations' mean difference at its layer."""
    m, adapter = rp.manipulation, rp.adapter
    c = support.ExampleContext("gpt2", False, support.PAPER_PROFILE).contrast()
    pos, neg = (TokenBatch.coerce(c[k]) for k in ("positives", "negatives"))
    mean = lambda b: adapter.hidden_states(b)[m.layer].mean((0, 1))
    torch.testing.assert_close(m.vector, 2.0 * (mean(pos) - mean(neg)), atol=1e-5, rtol=1e-5)


def _demonstrations(rp, x, y, papers) -> None:
    """Brown et al.: the frozen model reads the demonstrations before every query."""
    batch = TokenBatch.coerce(rp.manipulation.transform_input(x))
    context = torch.tensor([20, 21, 22, 23, 24, 25])
    assert torch.equal(batch.input_ids[:, : len(context)], context.expand(BATCH, -1))
    assert torch.equal(batch.input_ids[:, len(context):], TokenBatch.coerce(x).input_ids)


PROPERTIES = {
    "pad_prompter": _pad_prompter,
    "ilm": _ilm,
    "blm": _blm,
    "contextual_calibration": _contextual_calibration,
    "function_vector": _function_vector,
    "in_context_vector": _in_context_vector,
    "prefix_tuning": _prefix_tuning,
    "loreft": _loreft,
    "adversarial_reprogramming": _adversarial_reprogramming,
    "sample_specific_mask": _sample_specific_mask,
    "steering_vector": _steering_vector,
    "demonstrations": _demonstrations,
}


def test_the_database_names_references() -> None:
    assert LOAD_ERROR is None, LOAD_ERROR
    assert len(REFERENCES) >= 20, "expected the papers to name their own references"


@pytest.mark.parametrize("manipulation, alignment, preset, papers", REFERENCE_CASES)
def test_paper_reference_runs_the_papers_own_method(manipulation, alignment, preset, papers):
    context = f"{manipulation} + {alignment} ({', '.join(p.id for p in papers)})"
    if alignment == "self_consistency":
        _self_consistency(manipulation, papers)
        return
    backbone = _reference_backbone(manipulation, alignment, papers)
    reprogrammed, model, num_classes, x, _ = _build_reference(
        manipulation, alignment, preset, backbone)
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    y = torch.randint(0, num_classes, (BATCH,), generator=torch.Generator().manual_seed(2))
    if reprogrammed.alignment.needs_statistics:
        with torch.no_grad():
            reprogrammed.alignment.initialize(reprogrammed.source_logits(x), y)
    out = reprogrammed(x)
    assert out.shape == (BATCH, num_classes) and torch.isfinite(out).all(), context
    for name in (manipulation, alignment):
        check = PROPERTIES.get(name)
        if check is not None:
            check(reprogrammed, x, y, papers)
    learnable = [p for p in reprogrammed.manipulation.parameters() if p.requires_grad]
    omega = getattr(reprogrammed.alignment, "omega", None)
    if omega is not None and torch.allclose(omega, omega[:, :1].expand_as(omega)):
        # BLM with equal columns carries no gradient; right only when the frozen model predicts
        # one source class for the whole batch (see the cell test above).
        with torch.no_grad():
            assert reprogrammed.source_logits(x).argmax(-1).unique().numel() == 1, context
        learnable = []
    if learnable:
        before = [p.detach().clone() for p in learnable]
        opt = torch.optim.Adam(reprogrammed.trainable_parameters(), lr=LR)
        for _ in range(2):  # two steps: some generators get a zero gradient at initialisation
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(reprogrammed(x), y).backward()
            opt.step()
        moved = [not torch.equal(b, p) for b, p in zip(before, learnable)]
        assert all(moved), f"{context}: {moved.count(False)} manipulation tensors did not move"
    for key, value in model.state_dict().items():
        assert torch.equal(value, frozen[key]), f"{context}: backbone {key} changed"


def _self_consistency(manipulation: str, papers) -> None:
    """Wang et al.: paths are sampled after the chain-of-thought demonstrations, each path's
    answer is parsed by rule, and the majority answer wins."""
    from reference import create_alignment, create_manipulation
    from reference.alignments import AnswerExtractor, sample_paths
    from reference.backbones import adapt

    adapter = adapt(copy.deepcopy(_pristine_backbone("gpt2")))
    demos = create_manipulation(manipulation, adapter, context_ids=[20, 21, 22])
    query = {"input_ids": torch.tensor([[40, 41]])}
    paths = sample_paths(adapter, query, 7, demos, max_new_tokens=4, seed=5)[0]
    words = lambda toks: " ".join(f"w{t}" for t in toks)
    labels = sorted({f"w{t}" for path in paths for t in path})[:NUM_CLASSES]
    extract = AnswerExtractor(labels=labels, fallback_last_number=False)
    votes = [extract(words(p)) for p in paths]
    sc = create_alignment("self_consistency", VOCAB, NUM_CLASSES)
    shares = sc.predict(adapter, query, words, extract, num_paths=7, manipulation=demos,
                        max_new_tokens=4, seed=5).exp()[0]
    counted = [votes.count(k) for k in range(NUM_CLASSES)]
    assert sum(counted) > 0, "no path named a label"
    assert int(shares.argmax()) == max(range(NUM_CLASSES), key=lambda k: counted[k])
    assert torch.allclose(shares, torch.tensor(counted, dtype=torch.float) / sum(counted))
