"""Learned context for CLIP's class prompts (λ learnable, ℓ embedding, τ concatenative).

* CoOp — Zhou, Yang, Loy & Liu, "Learning to Prompt for Vision-Language Models" (IJCV 2022): the
  hand-written context of a zero-shot prompt ("a photo of a") becomes ``M`` learned vectors,

      t_k = [SOS] [v_1] … [v_M] [CLASS_k] [.] [EOS],   logits_k = exp(τ) · cos(g(x), h(t_k)),

  shared by every class (unified context) or one set per class (class-specific context, CSC).
* CoCoOp — Zhou, Yang, Loy & Liu, "Conditional Prompt Learning for Vision-Language Models" (CVPR
  2022): a light Meta-Net ``π`` (Linear → ReLU → Linear, hidden width 16× narrower) maps
  the image's normalised feature to one bias added to every context vector, ``v_m(x) = v_m + π(x)``,
  so each image reads its own ``K`` prompts. ``data/papers.yaml`` also tags it τ parametric for
  this input-conditioned token; it is registered in the concatenative cell, where its prompt sits.

The frozen CLIP and its zero-shot head are ``reference.clip.CLIPAdapter``: it tokenises nothing
itself but receives the class prompts (the class names, e.g. ``"cat."``), calls the hook below
with their token embeddings and reads the text feature at the end-of-text token. The context is
inserted after the start-of-text token, so the class name follows it ("end" position, the papers'
default; the "front"/"middle" variants of CoOp are not reproduced).

Initialisation, as the authors' code does: small normal vectors (std 0.02), or the token
embeddings of an initial phrase (``init_ids``: its token ids, without start/end tokens), which then
fixes ``M``. With ``init_ids`` the untrained model is exactly CLIP's zero-shot classifier on
"<phrase> <class name>." — the test pins this against ``CLIPModel.forward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ...clip import ClassPrompts, CLIPAdapter
from ...core import Manipulation
from ...registry import register_manipulation


@dataclass
class CoOpConfig:
    """Settings of :class:`CoOp`."""

    length: int | None = None  # context vectors M; None: len(init_ids), else DEFAULT_LENGTH
    class_specific: bool = False  # CSC: one context per class instead of one shared context
    init_ids: Sequence[int] | None = None  # token ids of an initial phrase ("a photo of a")
    init_std: float = 0.02  # std of the random context when init_ids is not given

    DEFAULT_LENGTH: ClassVar[int] = 16  # CoOp's default context length

    def __post_init__(self) -> None:
        if self.init_ids is not None:
            self.init_ids = [int(i) for i in self.init_ids]
            if not self.init_ids:
                raise ValueError("init_ids is empty")
            if self.length is not None and self.length != len(self.init_ids):
                raise ValueError(
                    f"length {self.length} differs from the {len(self.init_ids)} init_ids; give one"
                )
            self.length = len(self.init_ids)
        if self.length is None:
            self.length = self.DEFAULT_LENGTH
        if self.length < 1:
            raise ValueError(f"length must be at least 1, got {self.length}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


@dataclass
class CoCoOpConfig(CoOpConfig):
    """Settings of :class:`CoCoOp`: CoOp's, plus the Meta-Net's bottleneck."""

    meta_reduction: int = 16  # Meta-Net hidden width = image feature width // meta_reduction

    DEFAULT_LENGTH: ClassVar[int] = 4  # CoCoOp's context length ("a photo of a")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.meta_reduction < 1:
            raise ValueError(f"meta_reduction must be at least 1, got {self.meta_reduction}")


def _clip_adapter(adapter, owner: str) -> CLIPAdapter:
    if not isinstance(adapter, CLIPAdapter):
        raise TypeError(
            f"{owner}: needs a transformers CLIPModel, got {type(adapter.model).__name__}"
        )
    return adapter


@register_manipulation("coop", papers=("zhou2022learning",), fidelity="faithful", config=CoOpConfig)
class CoOp(Manipulation):
    """Learned context vectors in CLIP's class prompts, CoOp (Zhou et al., IJCV 2022). Cell: learnable · embedding · concatenative."""

    cell = ("learnable", "embedding", "concatenative")
    modalities = ("vision-language",)
    needs_tokens = True

    def __init__(self, adapter, config: CoOpConfig) -> None:
        super().__init__(adapter)
        clip = _clip_adapter(adapter, type(self).__name__)
        self.config = config
        m, d = config.length, clip.embed_dim
        if config.init_ids is not None:
            with torch.no_grad():
                ids = torch.tensor(config.init_ids, device=clip.class_ids.device)
                context = clip.token_embedding(ids).float().cpu().clone()  # (M, D)
        else:
            context = torch.randn(m, d) * config.init_std  # (M, D)
        if config.class_specific:
            context = context.unsqueeze(0).repeat(clip.num_source, 1, 1)  # (K, M, D)
        self.context = nn.Parameter(context)

    def context_vectors(self, prompts: ClassPrompts) -> Tensor:
        """``(1 | K, M, D)``: the shared context or one per class."""
        return self.context if self.config.class_specific else self.context.unsqueeze(0)

    def transform_embeddings(self, prompts: ClassPrompts, embed) -> Tensor:
        tokens = embed(prompts)  # (K, L, D): [SOS] name-tokens [EOS] padding
        context = self.context_vectors(prompts)  # (..., 1 | K, M, D)
        lead, k, o = context.shape[:-3], tokens.shape[0], self.adapter.prompt_offset
        context = context.expand(*lead, k, -1, -1).to(tokens.dtype)  # (..., K, M, D)
        tokens = tokens.expand(*lead, *tokens.shape)  # (..., K, L, D)
        return torch.cat([tokens[..., :o, :], context, tokens[..., o:, :]], dim=-2)


@register_manipulation(
    "cocoop", papers=("zhou2022conditional",), fidelity="faithful", config=CoCoOpConfig
)
class CoCoOp(CoOp):
    """Image-conditioned context via a Meta-Net, CoCoOp (Zhou et al., CVPR 2022). Cell: learnable · embedding · concatenative."""

    def __init__(self, adapter, config: CoCoOpConfig) -> None:
        super().__init__(adapter, config)
        e, d = self.adapter.image_dim, self.adapter.embed_dim
        hidden = max(1, e // config.meta_reduction)
        self.meta_net = nn.Sequential(nn.Linear(e, hidden), nn.ReLU(), nn.Linear(hidden, d))

    def context_vectors(self, prompts: ClassPrompts) -> Tensor:
        """``(B, 1 | K, M, D)``: every context vector shifted by ``π(x)`` of its image."""
        if prompts.image_features is None:
            raise ValueError("cocoop: the class prompts carry no image features")
        shift = self.meta_net(prompts.image_features)  # (B, D)
        return super().context_vectors(prompts).unsqueeze(0) + shift[:, None, None, :]
