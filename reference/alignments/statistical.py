"""Statistical output alignment (ω = statistical): label mappings estimated from the model's outputs.

A frozen classifier with ``S`` source classes is reused for ``T ≤ S`` target classes by deciding,
from data, which source logits stand for which target class. Five mappings are implemented, all as
buffers (so they travel in ``Reprogrammed.trainable_state_dict()`` and checkpoints):

=========  ======================================================================  ==============
name       mapping                                                                  updated
=========  ======================================================================  ==============
``rlm``    random one-to-one assignment (Elsayed et al. 2019)                       never
``flm``    greedy one-to-one assignment on the frequency matrix (Chen et al. 2023)   once, before training
``ilm``    FLM recomputed every epoch (Chen et al. 2023, ILM-VP)                    every epoch
``blm``    probabilistic many-to-many matrix ω from argmax counts (Cai et al. 2024)  every epoch
``blm+``   ω from top-K probability mass (Cai et al. 2024)                          every epoch
=========  ======================================================================  ==============

The protocol a trainer follows (``needs_statistics`` is True for all but RLM)::

    alignment.initialize(source_logits_of_train_set, labels)   # once, from one pass (FLM/ILM/BLM/BLM+)
    for epoch in range(epochs):
        for x, y in train_loader:
            src = model.source_logits(x)                 # one forward pass ...
            loss = F.cross_entropy(alignment(src), y)    # ... used for the loss
            alignment.observe(src.detach(), y)           # ... and for the statistics (no extra pass)
        alignment.refresh()                              # recompute from what was observed, reset

The original ILM/BLM code runs an extra no-grad pass over the training set at each epoch start to
collect the statistics; here they are gathered from the training pass itself, so they describe the
prompt as it evolved during the epoch rather than as it stands at its end. That costs nothing and
converges to the same mapping as the prompt settles. In distributed training every rank must
compute the same mapping: either observe the logits and labels gathered from all ranks (what
``reference/train.py`` does), or all-reduce the ``counts`` and ``num_observed`` buffers before
``refresh()``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core import Alignment
from ..registry import register_alignment

__all__ = [
    "BayesianLabelMapping",
    "BayesianLabelMappingPlus",
    "FrequencyLabelMapping",
    "IterativeLabelMapping",
    "RandomLabelMapping",
    "blm_weights",
    "frequency_matrix",
    "greedy_one_to_one",
    "topk_probability_matrix",
]


# --------------------------------------------------------------------------------------------- maths


def _check_labels(labels: Tensor, num_target: int) -> Tensor:
    labels = labels.reshape(-1).long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_target):
        raise ValueError(
            f"labels must lie in [0, {num_target}); got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def frequency_matrix(source_logits: Tensor, labels: Tensor, num_target: int) -> Tensor:
    """Counts ``C[s, t] = #{i : argmax f(x_i) = s and y_i = t}``, shape ``(S, T)``, float.

    This is the frequency matrix of (predicted source label, target label) pairs from which FLM,
    ILM and BLM are computed. One ``bincount`` over the flattened pair index keeps it vectorised.
    """
    num_source = source_logits.shape[-1]
    labels = _check_labels(labels, num_target)
    predicted = source_logits.reshape(-1, num_source).argmax(dim=-1)
    if predicted.shape[0] != labels.shape[0]:
        raise ValueError(f"{predicted.shape[0]} logit rows but {labels.shape[0]} labels")
    pair = predicted * num_target + labels.to(predicted.device)
    counts = torch.bincount(pair, minlength=num_source * num_target)
    return counts.view(num_source, num_target).to(torch.float32)


def topk_probability_matrix(
    source_logits: Tensor, labels: Tensor, num_target: int, k: int
) -> Tensor:
    """BLM+'s soft counts ``C[s, t] = Σ_i 1[y_i = t] · p̃_i(s)``, shape ``(S, T)``.

    ``p̃_i(s) = softmax(f(x_i))_s`` if ``s`` is among the ``k`` most probable source labels of
    sample ``i``, else 0 (Cai et al. 2024, BLM+: "top-K predicted probability aggregation"). With
    ``k = 1`` and one-hot probabilities this reduces to :func:`frequency_matrix`.
    """
    num_source = source_logits.shape[-1]
    labels = _check_labels(labels, num_target)
    probs = torch.softmax(source_logits.reshape(-1, num_source).float(), dim=-1)
    k = max(1, min(int(k), num_source))
    top_values, top_indices = probs.topk(k, dim=-1)
    truncated = torch.zeros_like(probs).scatter_(-1, top_indices, top_values)
    one_hot_targets = torch.nn.functional.one_hot(labels.to(probs.device), num_target).to(
        probs.dtype
    )
    return truncated.t() @ one_hot_targets


def greedy_one_to_one(counts: Tensor) -> Tensor:
    """Greedy one-to-one assignment: for each target class, the source class it is mapped to.

    Repeatedly take the largest remaining entry ``counts[s, t]``, assign target ``t`` to source
    ``s``, and remove row ``s`` and column ``t`` (Chen et al. 2023, Algorithm 1 — FLM/ILM). Each of
    the ``T`` rounds is one vectorised ``argmax`` over the masked matrix. Ties go to the first
    entry in row-major order (smallest source index, then smallest target index), so the result is
    deterministic. Greedy is not the optimal (Hungarian) assignment in general; it is what the
    papers use. Returns a long tensor of shape ``(T,)`` with distinct entries.
    """
    if counts.dim() != 2:
        raise ValueError(
            f"counts must be a (source, target) matrix; got shape {tuple(counts.shape)}"
        )
    num_source, num_target = counts.shape
    if num_target > num_source:
        raise ValueError(
            f"a one-to-one mapping needs at least as many source classes as target classes; "
            f"got {num_source} source and {num_target} target classes"
        )
    work = counts.detach().to(torch.float64).clone()
    mapping = torch.empty(num_target, dtype=torch.long, device=counts.device)
    for _ in range(num_target):
        flat = int(work.argmax())
        s, t = divmod(flat, num_target)
        mapping[t] = s
        work[s, :] = float("-inf")
        work[:, t] = float("-inf")
    return mapping


def blm_weights(counts: Tensor, laplace: float) -> Tensor:
    """Bayesian-guided label mapping matrix ω (Cai et al., NeurIPS 2024, arXiv 2410.24018).

    Given the (hard or soft) joint counts ``C[s, t]`` of predicted source label ``s`` and target
    label ``t`` over the training set::

        ω̃[s, t] = C[s, t] / (Σ_t' C[s, t'] + λ)          ≈ P(y^T = t | y^S = s), Laplace-smoothed
        ω[s, t]  = ω̃[s, t] / Σ_s' ω̃[s', t]              column-normalised over source labels

    The first step is the Bayesian conditional probability of the target label given the
    pretrained prediction; λ > 0 shrinks the weight of rarely predicted source labels, whose
    conditional estimate rests on few samples. The second step makes every target column a
    distribution over source labels, so no target class is favoured merely because many samples
    carry it. Predictions are then ``f(x) @ ω`` (shape ``(B, T)``): each target logit is a weighted
    sum of all source logits — a many-to-many mapping, unlike the one-to-one FLM/ILM. A target
    class that was never observed gets a uniform column (the estimate has no evidence either way).
    """
    if laplace < 0:
        raise ValueError(f"laplace smoothing λ must be ≥ 0; got {laplace}")
    counts = counts.to(torch.float32)
    conditional = counts / (counts.sum(dim=1, keepdim=True) + laplace).clamp_min(1e-12)
    column = conditional.sum(dim=0, keepdim=True)
    uniform = torch.full_like(conditional, 1.0 / conditional.shape[0])
    return torch.where(column > 0, conditional / column.clamp_min(1e-12), uniform)


# ------------------------------------------------------------------------------------------ modules


class _StatisticalMapping(Alignment):
    """Shared buffers and checks; subclasses say how counts become a mapping."""

    kind = "statistical"
    needs_statistics = True

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__(num_source, num_target)
        # Statistics of the current epoch: transient, so not part of the state dict.
        self.register_buffer("counts", torch.zeros(num_source, num_target), persistent=False)
        self.register_buffer("num_observed", torch.zeros((), dtype=torch.long), persistent=False)
        #: Samples behind the mapping now in use (set by ``initialize``/``refresh``); a checkable
        #: record that the statistics came from exactly one pass.
        self.last_num_observed = 0

    def _check_logits(self, source_logits: Tensor) -> None:
        if source_logits.shape[-1] != self.num_source:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_source} source logits; "
                f"got shape {tuple(source_logits.shape)}"
            )

    def _batch_counts(self, source_logits: Tensor, labels: Tensor) -> Tensor:
        return frequency_matrix(source_logits, labels, self.num_target)

    def _set_from_counts(self, counts: Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def initialize(self, source_logits: Tensor, labels: Tensor) -> None:
        """Estimate the mapping from one pass over the training set (before training)."""
        self._check_logits(source_logits)
        counts = self._batch_counts(source_logits.detach(), labels)
        self._set_from_counts(counts.to(self.counts.device))
        self.last_num_observed = int(labels.numel())

    @torch.no_grad()
    def observe(self, source_logits: Tensor, labels: Tensor) -> None:
        """Accumulate this training batch's statistics (no gradient, no extra forward pass)."""
        self._check_logits(source_logits)
        self.counts += self._batch_counts(source_logits.detach(), labels).to(self.counts.device)
        self.num_observed += labels.numel()

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute the mapping from the statistics observed since the last refresh, then reset.

        Does nothing when nothing was observed (e.g. an epoch of zero batches), so the mapping in
        use is never replaced by one estimated from no data.
        """
        if int(self.num_observed) > 0:
            self._set_from_counts(self.counts)
            self.last_num_observed = int(self.num_observed)
        self.counts.zero_()
        self.num_observed.zero_()


class _OneToOneMapping(_StatisticalMapping):
    """A mapping that picks one source logit per target class: ``y_t = f(x)[mapping[t]]``."""

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__(num_source, num_target)
        if num_target > num_source:
            raise ValueError(
                f"{type(self).__name__} is one-to-one and needs num_target ≤ num_source; "
                f"got num_source={num_source}, num_target={num_target}"
            )
        # Until statistics arrive, target t reads source logit t.
        self.register_buffer("mapping", torch.arange(num_target))

    def forward(self, source_logits: Tensor) -> Tensor:
        self._check_logits(source_logits)
        return source_logits.index_select(-1, self.mapping)

    def _set_from_counts(self, counts: Tensor) -> None:
        self.mapping.copy_(greedy_one_to_one(counts).to(self.mapping.device))


@register_alignment("rlm")
class RandomLabelMapping(_OneToOneMapping):
    """RLM: a fixed random one-to-one assignment of source classes to target classes.

    Drawn once at construction (``seed`` makes it reproducible) and never updated — the baseline
    of Elsayed et al. (2019) and of the label-mapping papers that followed.
    """

    needs_statistics = False

    def __init__(self, num_source: int, num_target: int, seed: int | None = 0) -> None:
        super().__init__(num_source, num_target)
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        self.mapping.copy_(torch.randperm(num_source, generator=generator)[:num_target])

    def initialize(self, source_logits: Tensor, labels: Tensor) -> None:
        """RLM uses no statistics; kept so a trainer can treat all mappings alike."""

    def observe(self, source_logits: Tensor, labels: Tensor) -> None:
        """RLM uses no statistics."""

    def refresh(self) -> None:
        """RLM never changes."""


@register_alignment("flm")
class FrequencyLabelMapping(_OneToOneMapping):
    """FLM: greedy one-to-one assignment on the frequency matrix, computed once before training.

    Chen et al. (CVPR 2023, "Understanding and Improving Visual Prompting: A Label-Mapping
    Perspective"): ``C[s, t]`` counts training samples of target class ``t`` that the (prompted)
    model predicts as source class ``s``; :func:`greedy_one_to_one` turns ``C`` into the mapping.
    ``observe``/``refresh`` are no-ops — the mapping is frozen after ``initialize``.
    """

    def observe(self, source_logits: Tensor, labels: Tensor) -> None:
        """FLM is fixed after initialisation, so there is nothing to accumulate."""
        self._check_logits(source_logits)

    def refresh(self) -> None:
        """FLM is fixed after initialisation."""


@register_alignment("ilm", default_for=("vision", "text"))
class IterativeLabelMapping(_OneToOneMapping):
    """ILM: FLM recomputed at the end of every epoch from the training pass's own logits.

    Chen et al. (CVPR 2023, ILM-VP): the prompt and the mapping are optimised alternately; as the
    prompt changes what the model predicts, the assignment follows. ``observe`` accumulates the
    frequency matrix during the training pass and ``refresh`` applies :func:`greedy_one_to_one` to
    it, so no extra pass over the data is needed.
    """


@register_alignment("blm")
class BayesianLabelMapping(_StatisticalMapping):
    """BLM: a probabilistic many-to-many mapping ω from argmax counts (Cai et al., NeurIPS 2024).

    ``y = f(x) @ ω`` with ``ω`` from :func:`blm_weights` applied to the frequency matrix of
    (argmax source prediction, target label) pairs; λ (``laplace``, default 1 as in the paper's
    code) smooths the conditional estimate. Refreshed every epoch like ILM. Before any statistics
    arrive ω is the one-hot matrix of "target t reads source t", so the first epoch behaves like
    an identity sub-selection instead of a uniform (gradient-free) average.
    """

    def __init__(self, num_source: int, num_target: int, laplace: float = 1.0) -> None:
        super().__init__(num_source, num_target)
        if laplace < 0:
            raise ValueError(f"laplace smoothing λ must be ≥ 0; got {laplace}")
        self.laplace = float(laplace)
        initial = torch.zeros(num_source, num_target)
        diagonal = torch.arange(min(num_source, num_target))
        initial[diagonal, diagonal] = 1.0
        if num_target > num_source:  # more targets than sources: spread the rest uniformly
            initial[:, num_source:] = 1.0 / num_source
        self.register_buffer("omega", initial)

    def forward(self, source_logits: Tensor) -> Tensor:
        self._check_logits(source_logits)
        return source_logits @ self.omega.to(source_logits.dtype)

    def _set_from_counts(self, counts: Tensor) -> None:
        self.omega.copy_(blm_weights(counts, self.laplace).to(self.omega.device))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, laplace={self.laplace}"


@register_alignment("blm+")
class BayesianLabelMappingPlus(BayesianLabelMapping):
    """BLM+: BLM with soft counts from the top-K predicted probabilities (Cai et al., NeurIPS 2024).

    Instead of one count for the argmax source label, each sample contributes its softmax
    probability to each of its ``K`` most probable source labels (:func:`topk_probability_matrix`),
    which keeps the evidence that a sample "also looks like" other source classes. ``K`` is
    ``top_k`` when given, else ``max(1, ⌊topk_ratio · T⌋)`` with ``topk_ratio = 0.15`` as in the
    paper's released configuration; λ defaults to 1 likewise.
    """

    def __init__(
        self,
        num_source: int,
        num_target: int,
        laplace: float = 1.0,
        top_k: int | None = None,
        topk_ratio: float = 0.15,
    ) -> None:
        super().__init__(num_source, num_target, laplace=laplace)
        if top_k is None:
            if not 0 < topk_ratio <= 1:
                raise ValueError(f"topk_ratio must be in (0, 1]; got {topk_ratio}")
            top_k = max(1, int(topk_ratio * num_target))
        if top_k < 1:
            raise ValueError(f"top_k must be ≥ 1; got {top_k}")
        self.top_k = min(int(top_k), num_source)

    def _batch_counts(self, source_logits: Tensor, labels: Tensor) -> Tensor:
        return topk_probability_matrix(source_logits, labels, self.num_target, self.top_k)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, top_k={self.top_k}"
