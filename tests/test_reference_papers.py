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
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import reference_support as support
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
