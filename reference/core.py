"""The three pieces of every method, ``y = O_ω(f(I_{λ,ℓ,τ}(x)))``, and the module that joins them.

* :class:`Manipulation` is ``I_{λ,ℓ,τ}``. Its class attribute ``cell`` names its place on the
  three manipulation axes, and it implements the hook(s) for its location:

  - input level: :meth:`Manipulation.transform_input` (``x -> x'``; images arrive in ``[0, 1]``,
    the backbone adapter normalises *after* the manipulation; text arrives as token ids),
  - embedding level: :meth:`Manipulation.transform_embeddings` (``(x, embed) -> tokens``: a soft
    prompt calls ``embed(x)`` and concatenates, a reprogramming layer may ignore ``embed`` and
    map the raw target input itself),
  - hidden level: :meth:`Manipulation.before_block` / :meth:`Manipulation.after_block`, called by
    the adapter around every transformer block ``i`` with the residual stream ``h`` ``(B, N, D)``.
  - inside attention: :meth:`Manipulation.key_value_prefix`, per-layer keys and values that every
    attention layer reads before the sequence's own (prefix tuning); the text adapter hands them
    to the model as its key/value cache (``past_key_values``), so the sequence itself is unchanged.

  A manipulation may implement several hooks (VPT-deep inserts its first prompts at the embedding
  level and replaces them before each later block); ``cell`` records the location the paper names.
  Tokens that a manipulation adds are always *inserted at* ``adapter.prompt_offset`` (after a ViT's
  class/register tokens, at the start of a text sequence); the adapter works out how many were
  added from the sequence length, extends the attention mask, shifts the answer position and, for
  ViTs, drops them again before the head so pooling sees the original tokens.
* :class:`Alignment` is ``O_ω``: source logits ``(B, num_source)`` -> target logits. An alignment
  with ``reads = "features"`` reads instead the representation the model's output layer reads
  (``(B, adapter.num_features)``, e.g. the [MASK] state after a masked LM's head transform) —
  WARP's class embeddings replace the vocabulary projection this way.
* :class:`Reprogrammed` joins a frozen model (through a backbone adapter, ``backbones.py``), a
  manipulation and an alignment, and keeps the model frozen and in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from reprogrammability import taxonomy
from torch import Tensor, nn

Cell = taxonomy.Cell
"""A manipulation cell (λ, ℓ, τ); the values come from ``reprogrammability.taxonomy``."""

MODALITIES: tuple[str, ...] = ("vision", "text")
"""Backbone families: timm/torchvision image models, and Hugging Face ``transformers`` models."""

BACKBONE_FAMILIES: tuple[str, ...] = MODALITIES + ("vision-language",)
"""Every family an implementation may declare: the two above, which every cell covers, and
CLIP-style dual encoders (``reference.clip``), which only the methods made for them need (CoOp)."""


@dataclass
class TokenBatch:
    """What a text backbone consumes, carried through input-level manipulations.

    Text input manipulations either edit token ids (demonstrations, markers, token translation)
    or replace them by embeddings built from the frozen embedding table (relaxed, learnable
    token-space manipulations); ``inputs_embeds`` wins when both are set. ``answer_index`` says
    which position's vocabulary logits are the source logits; when it is ``None`` the adapter
    finds it (the ``[MASK]`` token of a masked LM, the last non-padding token of a causal LM).
    """

    input_ids: Tensor | None = None
    attention_mask: Tensor | None = None
    inputs_embeds: Tensor | None = None
    answer_index: Tensor | None = None

    @classmethod
    def coerce(cls, x: Any) -> TokenBatch:
        """Accept a ``TokenBatch``, a tensor of token ids, or a mapping such as a tokenizer's output."""
        if isinstance(x, TokenBatch):
            return x
        if isinstance(x, Tensor):
            if x.is_floating_point():
                raise TypeError(
                    "text backbone: got a float tensor where token ids were expected; only "
                    "manipulations that map raw target inputs (e.g. reprogramming layers) accept them"
                )
            return cls(input_ids=x)
        if hasattr(x, "keys") and ("input_ids" in x or "inputs_embeds" in x):
            return cls(
                input_ids=x.get("input_ids"),
                attention_mask=x.get("attention_mask"),
                inputs_embeds=x.get("inputs_embeds"),
                answer_index=x.get("answer_index"),
            )
        raise TypeError(
            f"text backbone: cannot read inputs of type {type(x).__name__}; pass token ids, a "
            "mapping with 'input_ids' (and optionally 'attention_mask'), or a TokenBatch"
        )

    @property
    def batch_size(self) -> int:
        t = self.inputs_embeds if self.inputs_embeds is not None else self.input_ids
        if t is None:
            raise ValueError("TokenBatch: neither input_ids nor inputs_embeds is set")
        return t.shape[0]

    @property
    def seq_len(self) -> int:
        t = self.inputs_embeds if self.inputs_embeds is not None else self.input_ids
        if t is None:
            raise ValueError("TokenBatch: neither input_ids nor inputs_embeds is set")
        return t.shape[1]

    def mask(self) -> Tensor:
        """The attention mask, all ones when none was given."""
        if self.attention_mask is not None:
            return self.attention_mask
        t = self.inputs_embeds if self.inputs_embeds is not None else self.input_ids
        assert t is not None
        return torch.ones(t.shape[:2], dtype=torch.long, device=t.device)

    def replace(self, **changes: Any) -> TokenBatch:
        return replace(self, **changes)


class Manipulation(nn.Module):
    """``I_{λ,ℓ,τ}``: subclasses set ``cell`` and override the hook(s) of their location.

    The constructor receives the backbone adapter (``backbones.adapt(model)``); it is kept as a
    plain attribute, not a submodule, so a manipulation's ``state_dict`` holds only its own
    parameters and buffers. ``λ = fixed`` manipulations own no trainable parameters (the registry
    and the tests check this).
    """

    cell: ClassVar[Cell]
    #: Backbone families this implementation runs on.
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    #: True when the manipulation needs a token-sequence backbone (a timm ViT or a HF model),
    #: i.e. it works on embeddings or hidden states rather than on the raw input.
    needs_tokens: ClassVar[bool] = False
    #: True when ``transform_embeddings`` maps the raw target input itself (a reprogramming layer):
    #: the adapter then skips its image resizing/normalisation and token bookkeeping.
    raw_input: ClassVar[bool] = False

    def __init__(self, adapter: Any) -> None:
        super().__init__()
        self.__dict__["adapter"] = adapter

    def bind(self, adapter: Any) -> None:
        """Point the manipulation at another adapter of the same model (``Reprogrammed`` does this)."""
        self.__dict__["adapter"] = adapter

    # -- the axes, for reports -----------------------------------------------------------
    @property
    def configuration(self) -> str:
        return self.cell[0]

    @property
    def location(self) -> str:
        return self.cell[1]

    @property
    def operator(self) -> str:
        return self.cell[2]

    # -- hooks (identity by default) -----------------------------------------------------
    def transform_input(self, x: Any) -> Any:
        """Input level: return the manipulated input (images in ``[0, 1]``, or a ``TokenBatch``)."""
        return x

    def transform_embeddings(self, x: Any, embed: Callable[[Any], Tensor]) -> Tensor:
        """Embedding level: return the token sequence ``(B, N', D)`` fed to the first block."""
        return embed(x)

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        """Hidden level: called with the input of block ``index``; return its replacement."""
        return hidden

    def after_block(self, index: int, hidden: Tensor) -> Tensor:
        """Hidden level: called with the output of block ``index``; return its replacement."""
        return hidden

    def key_value_prefix(self, batch_size: int) -> list[tuple[Tensor, Tensor]] | None:
        """Inside attention: ``[(keys, values)]`` per layer, each ``(B, H_kv, P, d_head)``, that
        every attention layer reads before the sequence's own keys and values; ``None``: none."""
        return None

    @property
    def uses_key_value_prefix(self) -> bool:
        """Whether the adapter must ask for a key/value prefix (skipped otherwise)."""
        return type(self).key_value_prefix is not Manipulation.key_value_prefix

    @property
    def uses_block_hooks(self) -> bool:
        """Whether the adapter must call the per-block hooks (skipped otherwise, for speed)."""
        cls = type(self)
        return (
            cls.before_block is not Manipulation.before_block
            or cls.after_block is not Manipulation.after_block
        )

    @property
    def uses_embeddings(self) -> bool:
        """Whether the adapter must run the model block by block from its embeddings."""
        return (
            type(self).transform_embeddings is not Manipulation.transform_embeddings
            or self.uses_block_hooks
            or self.uses_key_value_prefix
        )

    def extra_repr(self) -> str:
        return f"cell={taxonomy.cell_label(self.cell)}"


class Alignment(nn.Module):
    """``O_ω``: source logits ``(B, num_source)`` -> target logits ``(B, num_target)``.

    Statistical mappings (FLM, ILM, BLM) set ``needs_statistics`` and fill their mapping from
    :meth:`initialize` (one pass before training) and :meth:`observe`/:meth:`refresh` (accumulated
    during an epoch, recomputed at its end); the others ignore those calls.
    """

    kind: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    needs_statistics: ClassVar[bool] = False
    #: ``"logits"``: the model's source logits; ``"features"``: what its output layer reads.
    reads: ClassVar[str] = "logits"

    def __init__(self, num_source: int, num_target: int) -> None:
        super().__init__()
        if num_source <= 0 or num_target <= 0:
            raise ValueError(
                f"{type(self).__name__}: num_source and num_target must be positive, got "
                f"{num_source} and {num_target}"
            )
        self.num_source = int(num_source)
        self.num_target = int(num_target)

    def forward(self, source_logits: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def initialize(self, source_logits: Tensor, labels: Tensor) -> None:
        """Fit the mapping from one pass over target data before training (statistical only)."""

    def observe(self, source_logits: Tensor, labels: Tensor) -> None:
        """Accumulate statistics during the training pass (called without gradients)."""

    def refresh(self) -> None:
        """Recompute the mapping from what was observed, then reset the accumulators."""

    def extra_repr(self) -> str:
        return f"kind={self.kind}, num_source={self.num_source}, num_target={self.num_target}"


class Reprogrammed(nn.Module):
    """A frozen model with an input manipulation and an output alignment: ``O_ω ∘ f ∘ I``.

    The model's parameters get ``requires_grad = False`` and the model stays in eval mode even
    under ``.train()`` (dropout and batch-norm statistics belong to the source task); gradients
    still flow *through* it to the manipulation.
    """

    def __init__(
        self,
        model: nn.Module,
        manipulation: Manipulation,
        alignment: Alignment,
        adapter: Any = None,
    ) -> None:
        super().__init__()
        from .backbones import adapt

        if adapter is None:
            bound = getattr(manipulation, "adapter", None)
            adapter = bound if bound is not None and bound.model is model else adapt(model)
        if adapter.model is not model:
            raise ValueError("Reprogrammed: the adapter wraps a different model than the one given")
        manipulation.bind(adapter)
        self.adapter = adapter
        self.manipulation = manipulation
        self.alignment = alignment
        model.requires_grad_(False)
        self.adapter.train(False)

    @property
    def model(self) -> nn.Module:
        return self.adapter.model

    def train(self, mode: bool = True) -> Reprogrammed:
        super().train(mode)
        self.adapter.train(False)
        return self

    def source_logits(self, x: Any) -> Tensor:
        """The frozen model's logits on the manipulated input, before alignment (or the features
        its output layer reads, for an alignment that ``reads = "features"``)."""
        if self.alignment.reads == "features":
            return self.adapter.features(x, self.manipulation)
        return self.adapter.run(x, self.manipulation)

    def forward(self, x: Any) -> Tensor:
        return self.alignment(self.source_logits(x))

    def trainable_parameters(self) -> list[nn.Parameter]:
        params = list(self.manipulation.parameters()) + list(self.alignment.parameters())
        return [p for p in params if p.requires_grad]

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.trainable_parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"trainable": trainable, "frozen": total - trainable}

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Manipulation and alignment parameters and buffers (e.g. label mappings), never the model."""
        state: dict[str, Tensor] = {}
        for prefix, module in (
            ("manipulation.", self.manipulation),
            ("alignment.", self.alignment),
        ):
            for key, value in module.state_dict().items():
                state[prefix + key] = value
        return state

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        parts: dict[str, dict[str, Tensor]] = {"manipulation": {}, "alignment": {}}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head not in parts or not rest:
                raise KeyError(
                    f"trainable state: unexpected key {key!r}; keys start with 'manipulation.' "
                    "or 'alignment.'"
                )
            parts[head][rest] = value
        self.manipulation.load_state_dict(parts["manipulation"])
        self.alignment.load_state_dict(parts["alignment"])
