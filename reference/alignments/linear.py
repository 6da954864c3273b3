"""Linear output alignment (ω = linear): a trainable layer from source logits to target classes.

The simplest learnt alignment — AutoVP's "fully connected" mapping and the linear heads that VPT
and many visual-prompting baselines add — and the most expressive of the four ω values: every
target class may draw on every source logit with a learnt weight. It is the only alignment whose
parameters train together with the manipulation.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..core import Alignment
from ..registry import register_alignment

__all__ = ["LinearAlignment"]


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
