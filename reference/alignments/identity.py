"""Identity output alignment (ω = identity): the model's outputs are the target predictions.

Used when the target task lives in the source's output space — in-context learning and
instructions read the model's own vocabulary distribution or generated text, CLIP-style zero-shot
heads already score the target classes — so there is nothing to map. When the target classes are
a known subset of the source classes (say, the ImageNet classes that a downstream label set
shares), ``indices`` selects them; still nothing is learnt or estimated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..core import Alignment
from ..registry import register_alignment

__all__ = ["IdentityAlignment"]


@register_alignment("identity", default_for=("vision", "text"))
class IdentityAlignment(Alignment):
    """``y = f(x)`` — or ``y = f(x)[..., indices]`` when the target classes are a source subset.

    Without ``indices`` the target must have exactly the source's classes (``num_target ==
    num_source``); a mismatch is an error rather than a silent truncation, because picking "the
    first k classes" is a rule (see :class:`~reference.alignments.rule_based.ClassAssignment`),
    not identity. The alignment has no parameters; ``indices`` is a buffer so that the selection
    is saved with the rest of the trainable state.
    """

    kind = "identity"

    def __init__(
        self, num_source: int, num_target: int, indices: Sequence[int] | None = None
    ) -> None:
        super().__init__(num_source, num_target)
        if indices is None:
            if self.num_target != self.num_source:
                raise ValueError(
                    f"identity alignment passes the {self.num_source} source logits through, so "
                    f"num_target must equal num_source (got {self.num_target}); pass indices=[...] "
                    f"to select a subset of source classes, or use a rule-based alignment"
                )
            self.indices = None
        else:
            index = torch.as_tensor(list(indices), dtype=torch.long)
            if index.numel() != self.num_target:
                raise ValueError(
                    f"indices lists {index.numel()} classes; expected num_target={self.num_target}"
                )
            if index.numel() and (index.min() < 0 or index.max() >= self.num_source):
                raise ValueError(
                    f"indices must lie in [0, {self.num_source}); got {index.tolist()}"
                )
            if index.unique().numel() != index.numel():
                raise ValueError(f"indices must be distinct; got {index.tolist()}")
            self.register_buffer("indices", index)

    def forward(self, source_logits: Tensor) -> Tensor:
        if source_logits.shape[-1] != self.num_source:
            raise ValueError(
                f"IdentityAlignment expects {self.num_source} source logits; "
                f"got shape {tuple(source_logits.shape)}"
            )
        if self.indices is None:
            return source_logits
        return source_logits.index_select(-1, self.indices)

    def extra_repr(self) -> str:
        selected = "all" if self.indices is None else f"indices={self.indices.tolist()}"
        return f"{super().extra_repr()}, {selected}"
