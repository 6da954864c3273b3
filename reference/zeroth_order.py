"""Zeroth-order training: SPSA with gradient correction, for models whose gradients are hidden.

BlackVIP — Oh et al., "BlackVIP: Black-Box Visual Prompting for Robust Transfer Learning" (CVPR
2023) — trains its prompt generator through an API that returns only losses. The update rule
(SPSA-GC, following the authors' trainer) estimates the gradient from two loss evaluations per
random direction and corrects it with a Nesterov-style look-ahead on a momentum term:

    a_k = a / (k + o)^α,   c_k = c / k^γ                           (gain sequences, k = 1, 2, …)
    Δ ~ sign · U[0.5, 1]   per coordinate (segmented uniform; sign ±1 with probability ½)
    ĝ   = mean over `samples` draws of  (L(θ + c_k Δ) − L(θ − c_k Δ)) / (2 c_k Δ)
    m   = β m + ĝ          (m = ĝ at k = 1)
    θ  ← θ − a_k (ĝ + β m)                                         (gradient correction)

Defaults are BlackVIP's ViT-B/16 config (o, c, a, α, γ = 1.0, 0.01, 0.01, 0.4, 0.1; β = 0.9;
5 directions averaged). ``correction=False`` is plain SPSA (θ ← θ − a_k ĝ).

:class:`SPSA` is an *update rule* next to the optimisers: ``step(loss_fn)`` needs no
``backward``; ``loss_fn()`` runs the model (under ``torch.no_grad``) and returns the loss.
``reference.train`` uses it when a config says ``update: spsa`` (``update_kwargs`` are
:class:`SPSAConfig` fields).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class SPSAConfig:
    """Gain sequences and averaging of :class:`SPSA` (BlackVIP's defaults)."""

    a: float = 0.01  # step gain
    c: float = 0.01  # perturbation gain
    o: float = 1.0  # step-gain offset (stability constant)
    alpha: float = 0.4  # step-gain decay
    gamma: float = 0.1  # perturbation-gain decay
    momentum: float = 0.9  # β of the gradient correction
    samples: int = 5  # directions averaged per step
    correction: bool = True  # SPSA-GC; False: plain SPSA
    seed: int = 0  # the directions' generator (equal on every rank)

    def __post_init__(self) -> None:
        for name in ("a", "c"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")


class SPSA:
    """SPSA(-GC) over a list of parameters; ``step(loss_fn)`` returns the mean probed loss."""

    zeroth_order = True  # the trainer runs no backward pass for it

    def __init__(self, params: Iterable[nn.Parameter], config: SPSAConfig | None = None) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("SPSA: no trainable parameters")
        self.config = config or SPSAConfig()
        self.k = 0
        self.m: Tensor | None = None
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @property
    def param_groups(self) -> list[dict[str, float]]:
        """The next step's gain, where the trainer reads an optimiser's learning rate."""
        cfg = self.config
        return [{"lr": cfg.a / (self.k + 1 + cfg.o) ** cfg.alpha}]

    def _vector(self) -> Tensor:
        return nn.utils.parameters_to_vector(self.params).detach().float()

    def _set(self, theta: Tensor) -> None:
        nn.utils.vector_to_parameters(theta.to(self.params[0].dtype), self.params)

    def direction(self, n: int) -> Tensor:
        """Δ: per coordinate ±U[0.5, 1], from the step's own generator (so ranks agree)."""
        magnitude = (torch.rand(n, generator=self.generator) + 1) / 2
        sign = torch.randint(0, 2, (n,), generator=self.generator) * 2 - 1
        return magnitude * sign

    @torch.no_grad()
    def estimate(self, loss_fn: Callable[[], Tensor], theta: Tensor, ck: float) -> tuple[Tensor, float]:
        """ĝ at ``theta`` (two-sided, averaged over ``samples`` directions) and the mean loss."""
        grads, losses = [], []
        for _ in range(self.config.samples):
            delta = self.direction(theta.numel()).to(theta.device)
            self._set(theta + ck * delta)
            plus = float(loss_fn())
            self._set(theta - ck * delta)
            minus = float(loss_fn())
            grads.append((plus - minus) / (2 * ck * delta))
            losses += [plus, minus]
        self._set(theta)
        return torch.stack(grads).mean(0), sum(losses) / len(losses)

    @torch.no_grad()
    def step(self, loss_fn: Callable[[], Tensor]) -> float:
        cfg = self.config
        self.k += 1
        ak = cfg.a / (self.k + cfg.o) ** cfg.alpha
        ck = cfg.c / self.k**cfg.gamma
        theta = self._vector()
        ghat, loss = self.estimate(loss_fn, theta, ck)
        if cfg.correction:
            self.m = ghat if self.m is None else cfg.momentum * self.m + ghat
            ghat = ghat + cfg.momentum * self.m
        self._set(theta - ak * ghat)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to clear: no gradients are computed (kept for the optimiser interface)."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "m": None if self.m is None else self.m.cpu(),
            "generator": self.generator.get_state(),
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = int(state["k"])
        self.m = None if state["m"] is None else state["m"].to(self.params[0].device)
        self.generator.set_state(state["generator"])
