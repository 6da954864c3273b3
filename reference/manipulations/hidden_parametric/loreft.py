"""Low-rank representation intervention (λ learnable, ℓ hidden, τ parametric).

LoReFT — Wu et al., "ReFT: Representation Finetuning for Language Models" (NeurIPS 2024):
``Φ(h) = h + Rᵀ(W h + b − R h)`` on the output of chosen blocks, with ``R ∈ R^{r×D}`` kept with
orthonormal rows by ``torch.nn.utils.parametrizations.orthogonal`` and ``W, b`` a linear map.
``positions`` restricts it to the first/last ``k`` tokens (the paper's prefix/suffix positions;
with padding, pad on the left so the last tokens are real) or ``"all"``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from ...core import Manipulation
from ...registry import register_manipulation
from .._common import select_layers


class LoReFTIntervention(nn.Module):
    """One ``Φ``: ``h + Rᵀ(W h + b − R h)``."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        if not 0 < rank <= dim:
            raise ValueError(f"loreft: rank {rank} must be in [1, {dim}]")
        self.rotate = orthogonal(nn.Linear(dim, rank, bias=False))  # weight R: (rank, dim)
        self.learned = nn.Linear(dim, rank)  # W, b

    def forward(self, h: Tensor) -> Tensor:
        r = self.rotate.weight
        return h + (self.learned(h) - h @ r.T) @ r


@register_manipulation(
    "loreft", default_for=("vision", "text"), papers=("wu2024reft",), fidelity="faithful"
)
class LoReFT(Manipulation):
    """Low-rank representation intervention, LoReFT (Wu et al., NeurIPS 2024). Cell: learnable · hidden · parametric.

    Args: rank; layers (default all blocks); positions: ``"all"``, ``("first", k)`` or ``("last", k)``."""

    cell = ("learnable", "hidden", "parametric")
    needs_tokens = True

    def __init__(
        self,
        adapter,
        rank: int = 4,
        layers: int | Iterable[int] | None = None,
        positions: str | tuple[str, int] = "all",
    ) -> None:
        super().__init__(adapter)
        self.layers = select_layers(adapter, layers, "loreft")
        self._slot = {layer: i for i, layer in enumerate(self.layers)}
        if positions != "all" and not (
            isinstance(positions, tuple)
            and len(positions) == 2
            and positions[0] in ("first", "last")
            and positions[1] > 0
        ):
            raise ValueError(
                f"loreft: positions must be 'all', ('first', k) or ('last', k), got {positions!r}"
            )
        self.positions = positions
        self.interventions = nn.ModuleList(
            LoReFTIntervention(adapter.embed_dim, int(rank)) for _ in self.layers
        )

    def after_block(self, index: int, hidden: Tensor) -> Tensor:
        slot = self._slot.get(index)
        if slot is None:
            return hidden
        phi = self.interventions[slot]
        if self.positions == "all":
            return phi(hidden)
        side, k = self.positions
        k = min(int(k), hidden.shape[1])
        if side == "first":
            return torch.cat([phi(hidden[:, :k]), hidden[:, k:]], dim=1)
        return torch.cat([hidden[:, :-k], phi(hidden[:, -k:])], dim=1)
