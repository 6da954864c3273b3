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
The database must exist and load: if it does not, the suite fails (it never skips).
"""

from __future__ import annotations

import copy
import unicodedata
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
import torch.nn.functional as F
from reprogrammability import taxonomy

ROOT = Path(__file__).resolve().parents[1]
DATABASE = ROOT / "data" / "papers.yaml"

#: Backbones the combinations run on; "text" runs on a causal and on a masked LM.
BACKBONES: dict[str, str] = {"vit": "vision", "gpt2": "text", "bert": "text"}
MODALITIES = ("vision", "text")

NUM_CLASSES = 4  # target classes for every ω except identity (which keeps the source classes)
VISION_CLASSES = 16  # the tiny ViT's source classes
VOCAB = 100  # the tiny language models' vocabulary (= their source logits)
MASK_ID = 4  # the tiny BERT's [MASK] token
BATCH = 8
SEQ_LEN = 12
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


CASES = [
    pytest.param(combination, backbone, papers, id=_case_id(combination, backbone, papers))
    for combination, papers in COMBINATIONS.items()
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


@cache
def _pristine_backbone(backbone: str) -> torch.nn.Module:
    """A randomly initialised tiny model (built once per worker; tests use deep copies)."""
    torch.manual_seed(0)
    if backbone == "vit":
        from timm.models.vision_transformer import VisionTransformer

        return VisionTransformer(
            img_size=32,
            patch_size=8,
            embed_dim=32,
            depth=2,
            num_heads=2,
            num_classes=VISION_CLASSES,
        ).eval()
    transformers = pytest.importorskip("transformers")
    if backbone == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=VOCAB,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_inner=64,
            bos_token_id=1,
            eos_token_id=2,
            initializer_range=TEXT_INIT_STD,
        )
        return transformers.GPT2LMHeadModel(config).eval()
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=TEXT_INIT_STD,
    )
    return transformers.BertForMaskedLM(config).eval()


def _images(n: int = BATCH, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _tokens(
    backbone: str, n: int = BATCH, seed: int = 2, vocab: int = VOCAB
) -> dict[str, torch.Tensor]:
    """Token ids (the last row right-padded); a BERT row has its [MASK] near the end."""
    ids = torch.randint(5, vocab, (n, SEQ_LEN), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(n, SEQ_LEN, dtype=torch.long)
    ids[-1, -2:], mask[-1, -2:] = 0, 0
    if backbone == "bert":
        ids[:, -4] = MASK_ID  # the answer position of a cloze prompt "... [MASK] ..."
    return {"input_ids": ids, "attention_mask": mask}


def _plain_input(backbone: str, n: int = BATCH, seed: int = 2) -> Any:
    return _images(n, seed=seed) if backbone == "vit" else _tokens(backbone, n, seed)


def _contrast(backbone: str) -> dict[str, Any]:
    """Two small sets whose mean difference defines a fixed direction (steering, erasure)."""
    if backbone == "vit":
        return {"positives": _images(3, seed=5), "negatives": _images(3, seed=6) * 0.5}
    return {
        "positives": _tokens(backbone, 3, seed=5)["input_ids"],
        "negatives": _tokens(backbone, 3, seed=6)["input_ids"],
    }


TARGET_VOCAB = 12  # a target-task vocabulary for the text reprogramming of token ids


def _target_ids(backbone: str) -> dict[str, torch.Tensor]:
    ids = torch.randint(
        1, TARGET_VOCAB - 1, (BATCH, SEQ_LEN), generator=torch.Generator().manual_seed(3)
    )
    if backbone == "bert":
        ids[:, -4] = TARGET_VOCAB - 1  # the target's own [MASK] symbol, mapped to the source's
    return {"input_ids": ids}


def _example(name: str, backbone: str) -> tuple[dict[str, Any], Any, Any]:
    """Constructor kwargs, a batch of target inputs, and what the unmanipulated model would read.

    Most manipulations take the backbone's own inputs; the rest need context (demonstrations,
    marker boxes, directions) or consume another input type (a signal, a target vocabulary), for
    which "the unmanipulated model" has no meaning (``None``). A default manipulation not listed
    here gets no kwargs and the backbone's plain inputs.
    """
    vision = backbone == "vit"
    plain = _plain_input(backbone)
    if name == "adversarial_reprogramming":  # a small target image inside the learnt frame
        x = _images(size=16)
        return {}, x, None
    if name == "padding_prompt":
        return {"pad": 4}, _images(size=24), None
    if name == "sample_specific_mask":
        return {}, _images(size=24), None
    if name == "reprogramming_layer":  # Time-LLM-style: a raw series becomes source tokens
        kwargs: dict[str, Any] = {
            "patch_len": 8,
            "stride": 4,
            "d_model": 16,
            "num_heads": 2,
            "num_prototypes": 10,
        }
        if not vision:
            kwargs["prefix_ids"] = [7, 8]
        if backbone == "bert":
            kwargs["suffix_ids"] = [MASK_ID]
        return kwargs, torch.randn(BATCH, 40, generator=torch.Generator().manual_seed(4)), None
    if name == "signal_to_image":
        return {}, torch.randn(BATCH, 50, generator=torch.Generator().manual_seed(4)), None
    if name == "visual_marker":
        boxes = torch.tensor([[0.1, 0.1, 0.5, 0.9]] * BATCH)
        return {"boxes": [(0.2, 0.2, 0.6, 0.6)]}, (plain, boxes), plain
    if name == "visual_icl_grid":
        return {"demonstrations": _images(3, size=16, seed=9)}, plain, plain
    if name == "text_markers":
        return {"open_id": 1, "close_id": 2}, (plain, torch.tensor([[1, 3]] * BATCH)), plain
    if name == "demonstrations":
        return {"context_ids": [20, 21, 22, 23, 24, 25]}, plain, plain
    if name == "hard_prompt":
        kwargs = {"images": _images(2, seed=7)} if vision else {"prompt_ids": [10, 11, 12]}
        return kwargs, plain, plain
    if name in ("fixed_embedding_offset", "embedding_projection"):
        return _contrast(backbone), plain, plain
    if name == "steering_vector":
        return {"layer": 1, "coefficient": 2.0, **_contrast(backbone)}, plain, plain
    if name == "concept_erasure":
        return {"layers": [1], **_contrast(backbone)}, plain, plain
    if name == "demonstration_states":
        demos = _images(2, seed=8) if vision else _tokens(backbone, 2, seed=8)
        return {"demonstrations": demos}, plain, plain
    if name == "token_perturbation":
        return {"max_length": SEQ_LEN}, plain, plain
    if name in ("soft_prompt", "vocabulary_prompt"):
        return {"length": 3}, plain, plain
    if name == "deep_prompt":
        return {"length": 2}, plain, plain
    if name == "loreft":
        return {"rank": 2}, plain, plain
    if name == "vocabulary_mapping":
        special = {0: 0, TARGET_VOCAB - 1: MASK_ID}
        return (
            {"target_vocab_size": TARGET_VOCAB, "special_tokens": special},
            _target_ids(backbone),
            None,
        )
    if name == "token_translation":
        table = list(range(20, 20 + TARGET_VOCAB - 1)) + [MASK_ID]
        target = _target_ids(backbone)
        # Small ids are valid source ids too: the untranslated text (with the source's [MASK]).
        untranslated = target["input_ids"].masked_fill(
            target["input_ids"] == TARGET_VOCAB - 1, MASK_ID
        )
        return {"table": table}, target, {"input_ids": untranslated}
    return {}, plain, plain


def _alignment_kwargs(name: str, num_classes: int) -> dict[str, Any]:
    if name == "verbalizer":  # label words: one made-up token per class
        return {"token_ids": [[10 + 3 * k] for k in range(num_classes)]}
    return {}


def _build(combination: Combination, backbone: str, papers: list[Any]):
    from reference import registry

    modality = BACKBONES[backbone]
    needed_by = "\n  ".join(_describe(p) for p in papers)
    missing = []
    try:
        manipulation = registry.default_manipulation(combination.cell, modality)
    except KeyError:
        missing.append(f"manipulation for cell {taxonomy.cell_label(combination.cell)}")
    try:
        alignment = registry.default_alignment(combination.alignment, modality)
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


@pytest.mark.parametrize("combination, backbone, papers", CASES)
def test_paper_combination_has_a_working_reference(combination, backbone, papers):
    reprogrammed, model, num_classes, what, x, plain_x = _build(combination, backbone, papers)
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
