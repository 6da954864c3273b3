"""Output alignments (reference/alignments): the maths of every mapping on hand-made logits."""

from __future__ import annotations

import itertools

import pytest
import torch
from reprogrammability import taxonomy

from reference import registry
from reference.alignments import (
    AnswerExtractor,
    BayesianLabelMapping,
    BayesianLabelMappingPlus,
    ClassAssignment,
    FrequencyLabelMapping,
    IdentityAlignment,
    IterativeLabelMapping,
    LinearAlignment,
    RandomLabelMapping,
    Verbalizer,
    blm_weights,
    frequency_matrix,
    greedy_one_to_one,
    normalize_answer,
    topk_probability_matrix,
)
from reference.backbones import adapt
from reference.core import Manipulation, Reprogrammed

S, T = 6, 3


def one_hot_logits(predicted: list[int], num_source: int = S, scale: float = 5.0) -> torch.Tensor:
    """Logits whose argmax is ``predicted[i]`` in row ``i``."""
    logits = torch.zeros(len(predicted), num_source)
    logits[torch.arange(len(predicted)), torch.tensor(predicted)] = scale
    return logits


# ------------------------------------------------------------------------------------ registry

EXPECTED_KINDS = {
    "identity": "identity",
    "class-assignment": "rule-based",
    "verbalizer": "rule-based",
    "linear": "linear",
    "rlm": "statistical",
    "flm": "statistical",
    "ilm": "statistical",
    "blm": "statistical",
    "blm+": "statistical",
}


def test_every_alignment_is_registered_under_its_kind():
    for name, kind in EXPECTED_KINDS.items():
        assert kind in taxonomy.ALIGNMENT.keys
        assert name in registry.list_alignments(kind), f"{name} not listed under {kind}"
    for kind in taxonomy.ALIGNMENT.keys:
        assert registry.list_alignments(kind), f"no alignment registered for ω = {kind}"


@pytest.mark.parametrize("name", [n for n in EXPECTED_KINDS if n not in ("identity", "verbalizer")])
def test_create_alignment_shapes(name):
    alignment = registry.create_alignment(name, S, T)
    assert alignment.kind == EXPECTED_KINDS[name]
    assert alignment(torch.randn(4, S)).shape == (4, T)


def test_create_identity_and_verbalizer_with_their_arguments():
    assert registry.create_alignment("identity", S, S)(torch.randn(2, S)).shape == (2, S)
    verbalizer = registry.create_alignment("verbalizer", S, 2, token_ids=[1, [2, 3]])
    assert verbalizer(torch.randn(2, S)).shape == (2, 2)


# ------------------------------------------------------------------------------------ identity


def test_identity_passes_logits_through_and_has_no_parameters():
    alignment = IdentityAlignment(S, S)
    logits = torch.randn(3, S)
    assert torch.equal(alignment(logits), logits)
    assert list(alignment.parameters()) == []


def test_identity_selects_given_indices():
    alignment = IdentityAlignment(S, 3, indices=[4, 0, 2])
    logits = torch.arange(12.0).view(2, S)
    assert alignment(logits).tolist() == [[4.0, 0.0, 2.0], [10.0, 6.0, 8.0]]
    assert "indices" in alignment.state_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_target": 3}, "num_target must equal num_source"),
        ({"num_target": 2, "indices": [0, 9]}, r"\[0, 6\)"),
        ({"num_target": 2, "indices": [1, 1]}, "distinct"),
        ({"num_target": 2, "indices": [1]}, "expected num_target=2"),
    ],
)
def test_identity_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IdentityAlignment(S, **kwargs)


# ---------------------------------------------------------------------------------- rule-based


def test_class_assignment_default_is_first_source_classes():
    alignment = ClassAssignment(S, T)
    logits = torch.randn(2, S)
    assert torch.equal(alignment(logits), logits[:, :T])
    assert alignment.groups == [[0], [1], [2]]


def test_class_assignment_mean_max_sum_on_hand_logits():
    logits = torch.tensor([[1.0, 5.0, 3.0, -2.0, 0.0, 4.0]])
    groups = {0: [0, 1], 1: 3, 2: [2, 4, 5]}
    mean = ClassAssignment(S, T, assignment=groups, aggregation="mean")(logits)
    assert torch.allclose(mean, torch.tensor([[3.0, -2.0, 7.0 / 3.0]]))
    maximum = ClassAssignment(S, T, assignment=groups, aggregation="max")(logits)
    assert maximum.tolist() == [[5.0, -2.0, 4.0]]
    total = ClassAssignment(S, T, assignment=groups, aggregation="sum")(logits)
    assert total.tolist() == [[6.0, -2.0, 7.0]]


def test_class_assignment_per_class_groups_and_gradients():
    alignment = ClassAssignment(S, T, per_class=2)
    assert alignment.groups == [[0, 1], [2, 3], [4, 5]]
    logits = torch.randn(2, S, requires_grad=True)
    alignment(logits).sum().backward()
    assert torch.allclose(logits.grad, torch.full((2, S), 0.5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"per_class": 3}, "needs 9 source classes"),
        ({"assignment": {0: [0], 1: [1]}}, r"missing \[2\]"),
        ({"assignment": [[0], [], [1]]}, "target class 1 is empty"),
        ({"assignment": [[0], [1], [7]]}, r"source classes \[7\]"),
        ({"aggregation": "median"}, "aggregation must be one of"),
    ],
)
def test_class_assignment_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClassAssignment(S, T, **kwargs)


@pytest.fixture
def bert_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "great",
        "terrible",
        "play",
        "##ing",
        "good",
        "bad",
    ]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return transformers.BertTokenizer(str(path))


def test_verbalizer_maps_label_words_through_the_tokenizer(bert_tokenizer):
    vocab_size = len(bert_tokenizer)
    verbalizer = Verbalizer(
        vocab_size, 2, label_words=[["terrible", "bad"], "great"], tokenizer=bert_tokenizer
    )
    assert verbalizer.groups == [[6, 10], [5]]
    logits = torch.zeros(1, vocab_size)
    logits[0, 6], logits[0, 10], logits[0, 5] = 2.0, 4.0, 1.0
    assert verbalizer(logits).tolist() == [[3.0, 1.0]]


def test_verbalizer_uses_the_first_subtoken_of_a_multitoken_word(bert_tokenizer):
    assert bert_tokenizer("playing", add_special_tokens=False)["input_ids"] == [7, 8]
    verbalizer = Verbalizer(
        len(bert_tokenizer), 2, label_words=["playing", "good"], tokenizer=bert_tokenizer
    )
    assert verbalizer.groups == [[7], [9]]


def test_verbalizer_needs_words_or_ids():
    with pytest.raises(ValueError, match="token_ids, or label_words together with a tokenizer"):
        Verbalizer(S, 2)
    with pytest.raises(ValueError, match="expected 2"):
        Verbalizer(
            S, 2, label_words=["a"], tokenizer=lambda w, add_special_tokens: {"input_ids": [0]}
        )


# -------------------------------------------------------------------------------------- linear


def test_linear_alignment_is_a_trainable_linear_layer():
    alignment = LinearAlignment(S, T)
    logits = torch.randn(4, S)
    expected = logits @ alignment.linear.weight.t() + alignment.linear.bias
    assert torch.allclose(alignment(logits), expected)
    assert sum(p.numel() for p in alignment.parameters() if p.requires_grad) == S * T + T
    assert sum(p.numel() for p in LinearAlignment(S, T, bias=False).parameters()) == S * T


def test_alignments_reject_wrong_logit_width():
    for alignment in (
        IdentityAlignment(S, S),
        ClassAssignment(S, T),
        LinearAlignment(S, T),
        IterativeLabelMapping(S, T),
        BayesianLabelMapping(S, T),
    ):
        with pytest.raises(ValueError, match=f"expects {S} source logits"):
            alignment(torch.randn(2, S + 1))


# ----------------------------------------------------------------------------- statistics maths


def test_frequency_matrix_counts_argmax_label_pairs():
    logits = one_hot_logits([0, 0, 4, 4, 4, 1])
    labels = torch.tensor([0, 1, 2, 2, 0, 1])
    counts = frequency_matrix(logits, labels, T)
    expected = torch.zeros(S, T)
    expected[0, 0] = expected[0, 1] = 1
    expected[4, 2] = 2
    expected[4, 0] = 1
    expected[1, 1] = 1
    assert torch.equal(counts, expected)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        frequency_matrix(logits, torch.tensor([0, 1, 2, 3, 0, 0]), T)


def test_greedy_one_to_one_on_hand_examples():
    counts = torch.tensor(
        [
            [5.0, 1.0, 0.0],
            [6.0, 0.0, 2.0],
            [0.0, 4.0, 3.0],
            [0.0, 0.0, 0.0],
        ]
    )
    # Max 6 at (1, 0) -> target 0 <- source 1; then 4 at (2, 1); then column 2: rows 0, 3 left -> 0 at (0, 2).
    assert greedy_one_to_one(counts).tolist() == [1, 2, 0]
    # Ties go to the first entry in row-major order.
    assert greedy_one_to_one(torch.ones(3, 2)).tolist() == [0, 1]


def test_greedy_is_greedy_not_optimal():
    # The optimal assignment takes 9 + 9 = 18; greedy first takes the single 10 and then must take 0.
    counts = torch.tensor([[10.0, 9.0], [9.0, 0.0]])
    assert greedy_one_to_one(counts).tolist() == [0, 1]


def _naive_greedy(counts: list[list[float]]) -> list[int]:
    rows, cols = len(counts), len(counts[0])
    used_rows, mapping = set(), {}
    while len(mapping) < cols:
        best = None
        for s, t in itertools.product(range(rows), range(cols)):
            if s in used_rows or t in mapping:
                continue
            if best is None or counts[s][t] > counts[best[0]][best[1]]:
                best = (s, t)
        used_rows.add(best[0])
        mapping[best[1]] = best[0]
    return [mapping[t] for t in range(cols)]


def test_greedy_matches_a_naive_loop_on_random_integer_counts():
    generator = torch.Generator().manual_seed(0)
    for _ in range(25):
        counts = torch.randint(0, 6, (7, 4), generator=generator).float()
        assert greedy_one_to_one(counts).tolist() == _naive_greedy(counts.tolist())


def test_greedy_agrees_with_linear_sum_assignment_when_the_optimum_is_dominant():
    optimize = pytest.importorskip("scipy.optimize")
    generator = torch.Generator().manual_seed(1)
    for num_source, num_target in [(5, 5), (12, 7), (40, 10)]:
        # Background noise in [0, 1) plus a planted assignment worth 100-101 per entry: for
        # T < 100 any other assignment loses ≥ 99 per swapped entry, so greedy is optimal too.
        counts = torch.rand(num_source, num_target, generator=generator)
        planted = torch.randperm(num_source, generator=generator)[:num_target]
        counts[planted, torch.arange(num_target)] += 100 + torch.rand(
            num_target, generator=generator
        )
        rows, cols = optimize.linear_sum_assignment(counts.numpy(), maximize=True)
        optimal = [int(rows[list(cols).index(t)]) for t in range(num_target)]
        assert greedy_one_to_one(counts).tolist() == optimal == planted.tolist()


def test_greedy_needs_enough_source_classes():
    with pytest.raises(ValueError, match="at least as many source classes"):
        greedy_one_to_one(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="num_target ≤ num_source"):
        FrequencyLabelMapping(2, 3)


def test_blm_weights_hand_computed():
    counts = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    # λ = 1: conditional = [[2/3, 0], [1/3, 1/3], [0, 0]]; column sums 1 and 1/3.
    omega = blm_weights(counts, laplace=1.0)
    assert torch.allclose(omega, torch.tensor([[2 / 3, 0.0], [1 / 3, 1.0], [0.0, 0.0]]))
    # λ = 0: plain conditional P(t | s) before column normalisation.
    omega0 = blm_weights(counts, laplace=0.0)
    assert torch.allclose(omega0, torch.tensor([[2 / 3, 0.0], [1 / 3, 1.0], [0.0, 0.0]]))
    # Smoothing matters when source labels differ in how often they are predicted.
    counts2 = torch.tensor([[4.0, 0.0], [1.0, 1.0]])
    expected_unnormalised = torch.tensor([[4 / 5, 0.0], [1 / 3, 1 / 3]])
    expected = expected_unnormalised / expected_unnormalised.sum(0, keepdim=True)
    assert torch.allclose(blm_weights(counts2, laplace=1.0), expected)
    assert torch.allclose(blm_weights(counts2, laplace=1.0).sum(0), torch.ones(2))


def test_blm_weights_give_unobserved_targets_a_uniform_column():
    counts = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    omega = blm_weights(counts, laplace=1.0)
    assert torch.allclose(omega[:, 1], torch.full((2,), 0.5))
    assert torch.isfinite(omega).all()


def test_topk_probability_matrix_hand_computed():
    probs = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.1, 0.1, 0.2, 0.6]])
    logits = probs.clamp_min(1e-9).log()
    labels = torch.tensor([1, 0])
    counts = topk_probability_matrix(logits, labels, num_target=2, k=2)
    expected = torch.tensor([[0.0, 0.5], [0.0, 0.3], [0.2, 0.0], [0.6, 0.0]])
    assert torch.allclose(counts, expected, atol=1e-6)
    # k = 1 with confident logits reduces to argmax counts.
    confident = one_hot_logits([0, 3], num_source=4, scale=50.0)
    assert torch.allclose(
        topk_probability_matrix(confident, labels, 2, k=1), frequency_matrix(confident, labels, 2)
    )


# ---------------------------------------------------------------------------- statistical modules


def test_rlm_is_a_seeded_fixed_random_injection():
    a, b = RandomLabelMapping(100, 10, seed=3), RandomLabelMapping(100, 10, seed=3)
    assert torch.equal(a.mapping, b.mapping)
    assert a.mapping.unique().numel() == 10
    assert not torch.equal(a.mapping, RandomLabelMapping(100, 10, seed=4).mapping)
    before = a.mapping.clone()
    a.initialize(torch.randn(8, 100), torch.randint(0, 10, (8,)))
    a.observe(torch.randn(8, 100), torch.randint(0, 10, (8,)))
    a.refresh()
    assert torch.equal(a.mapping, before)
    logits = torch.randn(2, 100)
    assert torch.equal(a(logits), logits[:, before])


def test_flm_is_fixed_after_initialize():
    flm = FrequencyLabelMapping(S, T)
    flm.initialize(one_hot_logits([5, 5, 2, 0, 0]), torch.tensor([0, 0, 1, 2, 2]))
    assert flm.mapping.tolist() == [5, 2, 0]
    assert flm.last_num_observed == 5
    flm.observe(one_hot_logits([1, 1, 1]), torch.tensor([0, 0, 0]))
    flm.refresh()
    assert flm.mapping.tolist() == [5, 2, 0]
    logits = torch.arange(6.0).view(1, S)
    assert flm(logits).tolist() == [[5.0, 2.0, 0.0]]


def test_ilm_changes_its_mapping_after_refresh_when_statistics_change():
    ilm = IterativeLabelMapping(S, T)
    assert ilm.mapping.tolist() == [0, 1, 2]  # before any statistics
    ilm.initialize(one_hot_logits([3, 3, 4, 5]), torch.tensor([0, 0, 1, 2]))
    assert ilm.mapping.tolist() == [3, 4, 5]
    # The prompt has moved: class 0 is now predicted as source 1, class 2 as source 0.
    ilm.observe(one_hot_logits([1, 1, 4]), torch.tensor([0, 0, 1]))
    ilm.observe(one_hot_logits([0, 0]), torch.tensor([2, 2]))
    assert ilm.mapping.tolist() == [3, 4, 5]  # unchanged until the epoch ends
    ilm.refresh()
    assert ilm.mapping.tolist() == [1, 4, 0]
    assert ilm.last_num_observed == 5
    assert int(ilm.num_observed) == 0 and float(ilm.counts.sum()) == 0.0
    # An epoch without observations keeps the mapping.
    ilm.refresh()
    assert ilm.mapping.tolist() == [1, 4, 0]


class _CountingModel(torch.nn.Module):
    """A tiny 'frozen model plus learnable prompt' that counts its forward passes."""

    def __init__(self, num_source: int) -> None:
        super().__init__()
        self.prompt = torch.nn.Parameter(torch.zeros(num_source))
        self.frozen = torch.nn.Linear(4, num_source)
        self.frozen.requires_grad_(False)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.frozen(x) + self.prompt


@pytest.mark.parametrize(
    "cls", [IterativeLabelMapping, BayesianLabelMapping, BayesianLabelMappingPlus]
)
def test_statistics_come_from_the_training_pass_without_an_extra_pass(cls):
    torch.manual_seed(0)
    num_samples, batch_size, epochs = 22, 5, 3
    x = torch.randn(num_samples, 4)
    y = torch.randint(0, T, (num_samples,))
    model = _CountingModel(S)
    alignment = cls(S, T)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    with torch.no_grad():
        alignment.initialize(model(x), y)  # the one pass before training
    batches_per_epoch = -(-num_samples // batch_size)
    for _ in range(epochs):
        for start in range(0, num_samples, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            source_logits = model(xb)
            loss = torch.nn.functional.cross_entropy(alignment(source_logits), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            alignment.observe(source_logits, yb)
        assert int(alignment.num_observed) == num_samples
        alignment.refresh()
        assert alignment.last_num_observed == num_samples
    assert model.calls == 1 + epochs * batches_per_epoch


def test_blm_recomputes_omega_from_observed_argmax_counts():
    blm = BayesianLabelMapping(S, T, laplace=1.0)
    assert torch.equal(blm.omega[:T], torch.eye(T))  # before statistics: target t reads source t
    logits = one_hot_logits([0, 0, 1, 1, 5])
    labels = torch.tensor([0, 0, 0, 1, 2])
    blm.observe(logits, labels)
    blm.refresh()
    assert torch.allclose(blm.omega, blm_weights(frequency_matrix(logits, labels, T), 1.0))
    # Hand check of two columns: source 0 -> {0: 2}, source 1 -> {0: 1, 1: 1}, source 5 -> {2: 1}.
    col0 = torch.tensor([2 / 3, 1 / 3, 0, 0, 0, 0])
    assert torch.allclose(blm.omega[:, 0], col0 / col0.sum())
    assert torch.allclose(blm.omega[:, 2], torch.tensor([0, 0, 0, 0, 0, 1.0]))
    source = torch.randn(4, S)
    assert torch.allclose(blm(source), source @ blm.omega)


def test_blm_plus_uses_topk_probability_mass():
    plus = BayesianLabelMappingPlus(S, T, laplace=0.5, top_k=2)
    logits = torch.randn(10, S)
    labels = torch.randint(0, T, (10,))
    plus.initialize(logits, labels)
    expected = blm_weights(topk_probability_matrix(logits, labels, T, 2), 0.5)
    assert torch.allclose(plus.omega, expected)
    assert plus.top_k == 2
    assert BayesianLabelMappingPlus(1000, 20).top_k == 3  # ⌊0.15 · 20⌋ as in the paper's code
    assert BayesianLabelMappingPlus(1000, 2).top_k == 1


ALL_MODULES = {
    "identity": lambda: IdentityAlignment(S, S),
    "class-assignment": lambda: ClassAssignment(S, T, per_class=2),
    "verbalizer": lambda: Verbalizer(S, 2, token_ids=[[0, 1], [4]]),
    "linear": lambda: LinearAlignment(S, T),
    "rlm": lambda: RandomLabelMapping(S, T, seed=7),
    "flm": lambda: FrequencyLabelMapping(S, T),
    "ilm": lambda: IterativeLabelMapping(S, T),
    "blm": lambda: BayesianLabelMapping(S, T),
    "blm+": lambda: BayesianLabelMappingPlus(S, T, top_k=2),
}


@pytest.mark.parametrize("name", list(ALL_MODULES))
def test_gradients_flow_through_the_mapping_to_the_logits(name):
    alignment = ALL_MODULES[name]()
    num_target = alignment.num_target
    source = torch.randn(8, S)
    alignment.initialize(source, torch.arange(8) % num_target)
    logits = torch.randn(8, S, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(alignment(logits), torch.arange(8) % num_target)
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(ALL_MODULES))
def test_state_dict_round_trip_keeps_the_mapping(name):
    torch.manual_seed(0)
    alignment = ALL_MODULES[name]()
    num_target = alignment.num_target
    logits = torch.randn(30, S) * 3
    labels = torch.randint(0, num_target, (30,))
    alignment.initialize(logits, labels)
    alignment.observe(torch.randn(30, S) * 3, labels)
    alignment.refresh()
    state = alignment.state_dict()
    assert "counts" not in state and "num_observed" not in state  # transient statistics
    fresh = ALL_MODULES[name]()
    if name == "rlm":
        fresh = RandomLabelMapping(S, T, seed=99)  # a different draw, overwritten by the load
    if name == "linear":
        fresh = LinearAlignment(S, T)
    fresh.load_state_dict(state)
    probe = torch.randn(5, S)
    assert torch.equal(fresh(probe), alignment(probe))
    if name in ("flm", "ilm", "blm", "blm+"):
        assert any(
            not torch.equal(v, ALL_MODULES[name]().state_dict()[k]) for k, v in state.items()
        )


# ---------------------------------------------------------------------------- answer extraction

COT_NUMERIC = [
    (
        (
            "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April "
            "and May.\n#### 72"
        ),
        "72",
    ),
    (
        (
            "Let's think step by step. Weng earns 12/60 = $0.2 per minute. Working 50 minutes, she "
            "earned 0.2 x 50 = $10. The answer is $10."
        ),
        "10",
    ),
    (
        (
            "First, the cost of the house and repairs is 80,000 + 50,000 = 130,000. The value went "
            "up by 150%, so it is worth 80,000 * 2.5 = 200,000. So the profit is 200,000 - 130,000 "
            "= 70,000. The answer is 70,000."
        ),
        "70000",
    ),
    (
        (
            "James writes 3 pages to 2 friends twice a week, i.e. 3 * 2 * 2 = 12 pages a week, so "
            "in a year he writes 12 * 52 = 624 pages."
        ),
        "624",
    ),
    ("We need x such that 2x = 7, so x = 3.50. Therefore, the final answer is: 3.50", "3.5"),
    ("Adding the fractions gives $\\boxed{\\frac{1}{2}}$ as the result, not 3.", "\\frac{1}{2}"),
    ("The temperature dropped from 5 to -3 degrees, so the answer is -3.", "-3"),
    ("Total = 1,080 dollars.", "1080"),
    ("She had 10-5 apples left over after lunch", "5"),
]


@pytest.mark.parametrize("text, expected", COT_NUMERIC)
def test_answer_extractor_reads_chain_of_thought_answers(text, expected):
    assert AnswerExtractor().extract(text) == expected


def test_answer_extractor_multiple_choice_and_labels():
    choice = AnswerExtractor(labels=["A", "B", "C", "D", "E"])
    text = (
        "Q: Which is a mammal? Answer Choices: (A) shark (B) trout (C) dolphin (D) eel (E) squid\n"
        "A: Let's think step by step. Sharks, trout and eels are fish; squid are molluscs. "
        "Dolphins breathe air and nurse their young. Therefore, among A through E, the answer is (C)."
    )
    assert choice(text) == 2
    assert choice("The answer is (b) trout") == 1
    assert choice("The answer is b) trout") == -1  # a bare lower-case letter is not a choice
    assert choice("I think a dolphin, so C") == 2  # the article "a" is not choice A

    sentiment = AnswerExtractor(labels=["negative", "positive"], aliases={"positive": ["great"]})
    assert sentiment("Review: the acting was dull. Sentiment: Negative") == 0
    assert sentiment("The plot is slow at first, but overall the answer is positive.") == 1
    assert sentiment("Not negative at all - it was great!") == 1  # the label mentioned last
    assert sentiment("I cannot tell.") == -1
    assert sentiment.batch(["Answer: negative", "so: great", "??"]).tolist() == [0, 1, -1]


def test_answer_extractor_custom_pattern_and_no_answer():
    extractor = AnswerExtractor(pattern=r"Result:\s*(\w+)", fallback_last_number=False)
    assert extractor.extract("Step 1 ... Result: 17\nStep 2 ... Result: 42") == "42"
    assert extractor.extract("no numbers here") is None
    assert AnswerExtractor().extract("no numbers here") is None
    with pytest.raises(ValueError, match="to_class needs"):
        AnswerExtractor().to_class("1")
    with pytest.raises(ValueError, match="ambiguous"):
        AnswerExtractor(labels=["yes", "Yes."])


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("$1,080.", "1080"),
        ("5.0", "5"),
        ("3.50", "3.5"),
        ("(c)", "C"),
        ("B.", "B"),
        ("The Eiffel Tower.", "eiffel tower"),
        ("**42**", "42"),
        ("-0", "0"),
        ("12%", "12"),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


class _Shift(Manipulation):
    """A local learnable additive input manipulation, so this file does not depend on the
    manipulation package."""

    cell = ("learnable", "input", "additive")

    def __init__(self, adapter) -> None:
        super().__init__(adapter)
        self.delta = torch.nn.Parameter(torch.zeros(1, 3, 8, 8))

    def transform_input(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.delta


def _reprogrammed(alignment_name: str, **kwargs) -> Reprogrammed:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, S)).eval()
    adapter = adapt(model, input_size=8)
    alignment = registry.create_alignment(alignment_name, S, T, **kwargs)
    return Reprogrammed(model, _Shift(adapter), alignment, adapter=adapter)


@pytest.mark.parametrize("name", ["rlm", "flm", "ilm", "blm", "blm+"])
def test_label_mappings_travel_in_the_trainable_state_dict(name):
    reprogrammed = _reprogrammed(name)
    x = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(12) % T
    with torch.no_grad():
        source = reprogrammed.source_logits(x)
    reprogrammed.alignment.initialize(source, y)
    reprogrammed.alignment.observe(source, y)
    reprogrammed.alignment.refresh()
    state = reprogrammed.trainable_state_dict()
    buffer = "alignment.omega" if name.startswith("blm") else "alignment.mapping"
    assert buffer in state
    assert not any(k.endswith(("counts", "num_observed")) for k in state)
    assert not any(k.startswith(("model", "adapter")) for k in state)

    fresh = _reprogrammed(name, seed=5) if name == "rlm" else _reprogrammed(name)
    fresh.load_trainable_state_dict(state)
    assert torch.equal(fresh.alignment.state_dict()[buffer.split(".", 1)[1]], state[buffer])
    assert torch.equal(fresh(x), reprogrammed(x))
