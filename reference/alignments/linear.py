"""Linear output alignment (ω = linear): a trainable layer from source logits to target classes.

The simplest learnt alignment — AutoVP's "fully connected" mapping and the linear heads that VPT
and many visual-prompting baselines add — and the most expressive of the four ω values: every
target class may draw on every source logit with a learnt weight. It is the only alignment whose
parameters train together with the manipulation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..core import Alignment
from ..registry import register_alignment

__all__ = ["ClassEmbeddings", "LinearAlignment"]


@register_alignment("linear", default_for=("vision", "text"))
class LinearAlignment(Alignment):
    """``y = W f(x) + b`` with ``W ∈ R^{T×S}`` (``nn.Linear(num_source, num_target)``).

    Applied to the source logits, not to penultimate features: the frozen model stays a black box
    up to its output layer, as in the reprogramming papers that use a linear mapping.
    """

    kind = "linear"

    def __init__(self, num_source: int, num_target: int, bias: bool = True) -> None:
        super().__init__(num_source, num_target)
        self.linear = nn.Linear(self.num_source, self.num_target, bias=bias)

    def forward(self, source_logits: Tensor) -> Tensor:
        if source_logits.shape[-1] != self.num_source:
            raise ValueError(
                f"LinearAlignment expects {self.num_source} source logits; "
                f"got shape {tuple(source_logits.shape)}"
            )
        return self.linear(source_logits)


@register_alignment(
    "class-embeddings", papers=("hambardzumyan2021warp",), fidelity="faithful"
)
class ClassEmbeddings(Alignment):
    """WARP's verbalizer: ``y_k = ⟨V_k, t(h_[MASK])⟩ + b_k`` (Hambardzumyan et al., ACL 2021).

    Reads features, not logits (``reads = "features"``): the answer position's hidden state after
    the MLM head's transform, i.e. what the vocabulary decoder would read. The learned class
    embeddings ``V`` ``(K, D)`` and biases ``b`` take the decoder's place, so the vocabulary is
    never projected. :meth:`init_from_words` starts ``V_k, b_k`` at the decoder's row of a label
    word, where the scores equal the ``verbalizer`` alignment's vocabulary logits of those words.
    """

    kind = "linear"
    modalities = ("text",)
    reads = "features"

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__(num_source, num_target)
        self.embeddings = nn.Linear(self.num_source, self.num_target)  # V: (K, D), b: (K,)

    @torch.no_grad()
    def init_from_words(self, adapter, label_ids: Sequence[int]) -> None:
        """``V_k, b_k`` ← the output embedding's row (and bias) of label word ``label_ids[k]``."""
        head = adapter.model.get_output_embeddings()
        ids = torch.as_tensor(list(label_ids), dtype=torch.long, device=head.weight.device)
        if ids.numel() != self.num_target:
            raise ValueError(f"{ids.numel()} label words for {self.num_target} classes")
        assert head.weight.shape[1] == self.num_source, (tuple(head.weight.shape), self.num_source)
        self.embeddings.weight.copy_(head.weight[ids])
        bias = head.bias[ids] if head.bias is not None else torch.zeros_like(ids, dtype=torch.float)
        self.embeddings.bias.copy_(bias)

    def forward(self, features: Tensor) -> Tensor:
        if features.shape[-1] != self.num_source:
            raise ValueError(
                f"ClassEmbeddings expects {self.num_source}-dim features; "
                f"got shape {tuple(features.shape)}"
            )
        return self.embeddings(features)
