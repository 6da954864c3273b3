"""Small pieces several manipulations share: token insertion, layer selection, relaxed tokens,
and activation statistics for fixed (steering / erasure) directions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones import Adapter, ImageAdapter, TextAdapter
from ..core import TokenBatch


def insert_tokens(tokens: Tensor, new: Tensor, offset: int) -> Tensor:
    """Insert ``new`` (``(P, D)`` shared or ``(B, P, D)``) into ``tokens`` at position ``offset``."""
    if new.dim() == 2:
        new = new.unsqueeze(0).expand(tokens.shape[0], -1, -1)
    return torch.cat([tokens[:, :offset], new.to(tokens.dtype), tokens[:, offset:]], dim=1)


def replace_tokens(tokens: Tensor, new: Tensor, offset: int) -> Tensor:
    """Replace positions ``offset : offset + P`` of ``tokens`` by ``new`` (``(P, D)`` or ``(B, P, D)``)."""
    if new.dim() == 2:
        new = new.unsqueeze(0).expand(tokens.shape[0], -1, -1)
    end = offset + new.shape[1]
    return torch.cat([tokens[:, :offset], new.to(tokens.dtype), tokens[:, end:]], dim=1)


def fill_slots(tokens: Tensor, input_ids: Tensor, slot_id: int, new: Tensor, owner: str) -> Tensor:
    """Put ``new`` (``(P, D)``) at the positions where ``input_ids == slot_id``, in order.

    Prompts placed *around* the input (WARP, P-tuning's templates) are written as placeholder
    tokens in the text, ``[P] [P] sentence [P] [MASK] [P]``; each row must hold exactly ``P``.
    """
    slots = input_ids == slot_id  # (B, L)
    counts = slots.sum(1)
    if bool((counts != new.shape[0]).any()):
        raise ValueError(
            f"{owner}: every sequence needs exactly {new.shape[0]} placeholder tokens (id "
            f"{slot_id}); found {sorted(set(counts.tolist()))}"
        )
    rows = new.to(tokens.dtype).unsqueeze(0).expand(tokens.shape[0], -1, -1)  # (B, P, D)
    # masked_scatter fills the selected positions row by row, left to right: slot j of row b
    # receives rows[b, j].
    return tokens.masked_scatter(slots.unsqueeze(-1), rows)


class Reparametrized(nn.Module):
    """Prompt vectors made by a trainable network while training, a plain tensor after ``merge()``.

    Prefix tuning (an MLP over a smaller matrix) and P-tuning (an LSTM/MLP prompt encoder) train
    the network for stability and then keep only its output: ``merge()`` evaluates it once,
    stores the result as the parameter ``merged`` and drops the network, so inference pays
    nothing for it (the state dict changes accordingly: merge after loading a trained state).
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network: nn.Module | None = network
        self.merged: nn.Parameter | None = None

    @classmethod
    def direct(cls, values: Tensor) -> Reparametrized:
        """Prompt vectors trained as they are (no network): already merged."""
        module = cls(nn.Identity())
        module.network = None
        module.merged = nn.Parameter(values)
        return module

    def forward(self) -> Tensor:
        if self.merged is not None:
            return self.merged
        assert self.network is not None
        return self.network()

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged is None:
            self.merged = nn.Parameter(self.network().detach().clone())
            self.network = None


def select_layers(
    adapter: Adapter, layers: int | Iterable[int] | None, owner: str
) -> tuple[int, ...]:
    """Normalise a layer choice (``None`` = every block; negative indices count from the end)."""
    n = adapter.num_layers
    if layers is None:
        return tuple(range(n))
    if isinstance(layers, int):
        layers = (layers,)
    chosen = []
    for i in layers:
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise ValueError(f"{owner}: layer {i} out of range for a {n}-block model")
        chosen.append(j)
    if not chosen:
        raise ValueError(f"{owner}: no layers chosen")
    return tuple(sorted(set(chosen)))


def straight_through(probs: Tensor) -> Tensor:
    """One-hot of the argmax in the forward pass, ``probs``' gradient in the backward pass."""
    hard = F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)
    return hard + probs - probs.detach()


def text_adapter(adapter: Adapter, owner: str) -> TextAdapter:
    if not isinstance(adapter, TextAdapter):
        raise TypeError(
            f"{owner}: needs a transformers text model, got {type(adapter.model).__name__}"
        )
    return adapter


def image_adapter(adapter: Adapter, owner: str) -> ImageAdapter:
    if not isinstance(adapter, ImageAdapter):
        raise TypeError(f"{owner}: needs an image model, got {type(adapter.model).__name__}")
    return adapter


def _pool(states: Tensor, mask: Tensor | None, pool: str) -> Tensor:
    """``(B, N, D)`` -> ``(B, D)``: mean over real tokens, or the last real token."""
    if mask is None:
        mask = torch.ones(states.shape[:2], dtype=states.dtype, device=states.device)
    mask = mask.to(states.dtype)
    if pool == "mean":
        return (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
    if pool == "last":
        last = mask.shape[1] - 1 - mask.flip(1).argmax(dim=1)
        return states[torch.arange(states.shape[0], device=states.device), last]
    raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")


@torch.no_grad()
def mean_activation(
    adapter: Adapter, inputs: Any, layer: int | None = None, pool: str = "mean"
) -> Tensor:
    """Mean representation ``(D,)`` of some inputs at the input of block ``layer``.

    ``layer=None`` means the embedding output (what embedding-level manipulations see).
    Images are given in ``[0, 1]``; text as token ids or a tokenizer's output (padding is ignored).
    """
    mask = None
    inputs = adapter.to_device(
        inputs if adapter.modality == "vision" else TokenBatch.coerce(inputs)
    )
    if isinstance(adapter, TextAdapter):
        batch = TokenBatch.coerce(inputs)
        mask = batch.mask()
        states = adapter.embed(batch) if layer is None else adapter.hidden_states(batch)[layer]
    else:
        if not adapter.supports_tokens:
            raise TypeError(f"{type(adapter.model).__name__} has no token representations")
        if layer is None:
            states = adapter.embed(adapter.normalize(adapter.fit(inputs)))  # type: ignore[attr-defined]
        else:
            states = adapter.hidden_states(inputs)[layer]
    return _pool(states, mask, pool).mean(0)


def mean_difference(
    adapter: Adapter, positives: Any, negatives: Any, layer: int | None = None, pool: str = "mean"
) -> Tensor:
    """``mean(positives) − mean(negatives)`` at a layer: ActAdd/CAA steering vector, or the concept
    direction that mean-difference erasure removes."""
    return mean_activation(adapter, positives, layer, pool) - mean_activation(
        adapter, negatives, layer, pool
    )


def orthonormal_rows(
    directions: Tensor | Sequence[Sequence[float]], dim: int, owner: str
) -> Tensor:
    """``(k, D)`` directions -> an orthonormal basis of their span (rows), via QR."""
    u = torch.as_tensor(directions, dtype=torch.float32)
    if u.dim() == 1:
        u = u.unsqueeze(0)
    if u.dim() != 2 or u.shape[1] != dim:
        raise ValueError(f"{owner}: directions must be (k, {dim}), got {tuple(u.shape)}")
    if not torch.isfinite(u).all() or (u.norm(dim=1) == 0).any():
        raise ValueError(f"{owner}: directions must be finite and non-zero")
    q, _ = torch.linalg.qr(u.T)
    return q.T.contiguous()
