"""Contextual calibration (ω statistical; text).

Zhao et al., "Calibrate Before Use: Improving Few-Shot Performance of Language Models" (ICML
2021): a prompt biases the model towards some label words whatever the input. Estimate that bias
once, from the model's label-word probabilities on *content-free* inputs such as "N/A", "" and
"[MASK]" placed in the same prompt, averaged:

    p̂_cf = mean_cf softmax(label-word logits)                      (C,)
    q    = softmax-normalised  W p,   W = diag(p̂_cf)⁻¹,  b = 0

so a content-free input is mapped to the uniform distribution, and every other input is corrected
by the same affine map. Nothing is trained: :meth:`ContextualCalibration.fit` (or
:func:`calibrate`, which runs the frozen model on the content-free inputs) sets ``W`` once.
The output is ``log q``, so ``argmax``, cross-entropy and accuracy read it like logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..core import Alignment, Reprogrammed
from ..registry import register_alignment


@register_alignment("contextual_calibration", papers=("zhao2021calibrate",), fidelity="faithful")
class ContextualCalibration(Alignment):
    """Contextual calibration on label-word probabilities (Zhao et al., ICML 2021).

    Args: token_ids — the label word's token id for each target class."""

    kind = "statistical"
    modalities = ("text",)

    def __init__(self, num_source: int, num_target: int, token_ids: Sequence[int]) -> None:
        super().__init__(num_source, num_target)
        ids = [int(i) for i in token_ids]
        if len(ids) != num_target:
            raise ValueError(f"contextual_calibration: {len(ids)} token_ids for {num_target} classes")
        if any(not 0 <= i < num_source for i in ids):
            raise ValueError(f"contextual_calibration: token ids must lie in [0, {num_source})")
        self.register_buffer("token_ids", torch.tensor(ids, dtype=torch.long))
        # log of diag(W): zero (W = I) until fitted.
        self.register_buffer("log_weight", torch.zeros(num_target))

    def label_probabilities(self, source_logits: Tensor) -> Tensor:
        """``p``: softmax over the label words' logits, ``(B, C)``."""
        return source_logits.float()[:, self.token_ids].softmax(-1)

    @torch.no_grad()
    def fit(self, content_free_logits: Tensor) -> None:
        """Set ``W = diag(p̂_cf)⁻¹`` from the source logits of the content-free inputs ``(K, V)``."""
        p_cf = self.label_probabilities(content_free_logits).mean(0)
        p_cf = p_cf / p_cf.sum()
        self.log_weight.copy_(-p_cf.clamp_min(1e-12).log())

    def forward(self, source_logits: Tensor) -> Tensor:
        # log(W p) renormalised: log p + log diag(W), then log-softmax.
        log_p = self.label_probabilities(source_logits).clamp_min(1e-12).log()
        return (log_p + self.log_weight).log_softmax(-1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, labels={self.token_ids.tolist()}"


@torch.no_grad()
def calibrate(reprogrammed: Reprogrammed, content_free: Any) -> Tensor:
    """Fit ``reprogrammed``'s calibration on content-free inputs (same manipulation, e.g. the
    demonstrations); returns ``p̂_cf`` before calibration."""
    alignment = reprogrammed.alignment
    if not isinstance(alignment, ContextualCalibration):
        raise TypeError("calibrate: the model's alignment is not contextual_calibration")
    was = alignment.training
    reprogrammed.eval()
    logits = reprogrammed.source_logits(reprogrammed.adapter.to_device(content_free))
    reprogrammed.train(was)
    alignment.fit(logits)
    return alignment.label_probabilities(logits).mean(0)
