"""Patch reprogramming into the frozen model's embedding space
(λ learnable, ℓ embedding, τ parametric).

Time-LLM — Jin et al., "Time-LLM: Time Series Forecasting by Reprogramming Large Language Models"
(ICLR 2024): the target series is instance-normalised, cut into overlapping patches, each patch
embedded linearly, and then *reprogrammed* by multi-head cross-attention whose keys and values are
a small set of "text prototypes" — learned linear combinations ``W E`` of the frozen word
embeddings ``E`` — so the frozen model receives tokens that live in its own embedding space.
The result is fed to the backbone as embeddings (no token ids):

* text: ``[prefix embeddings] + reprogrammed patches + [suffix embeddings]``; the optional prefix
  is Time-LLM's Prompt-as-Prefix, the optional suffix holds the answer slot (e.g. a ``[MASK]``
  id for a masked LM); the source logits are read at the last position.
* vision (a timm ViT): the "vocabulary" is the image of the frozen patch embedding on the pixel
  basis (one vector per pixel of a patch, ``3·p²`` in all: every patch token is a combination of
  them), and the reprogrammed patches get the class token and position embeddings like real
  patches.

The target input is the raw series ``(B, T)`` or ``(B, C, T)`` (channels' patches are joined
along the sequence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core import Manipulation
from ...registry import register_manipulation


def patch_basis_embeddings(adapter) -> Tensor:
    """``(3·p², D)``: the frozen patch embedding of each single-pixel patch (a ViT's "vocabulary")."""
    pe = adapter.model.patch_embed
    proj = pe.proj
    if not isinstance(proj, nn.Conv2d):
        raise TypeError("reprogramming_layer: the ViT's patch embedding is not a Conv2d projection")
    basis = proj.weight.flatten(1).T
    if proj.bias is not None:
        basis = basis + proj.bias
    return pe.norm(basis)


@register_manipulation("reprogramming_layer", default_for=("vision", "text"))
class ReprogrammingLayer(Manipulation):
    """Patch reprogramming onto text prototypes (Time-LLM, Jin et al., ICLR 2024). Cell: learnable · embedding · parametric."""

    cell = ("learnable", "embedding", "parametric")
    needs_tokens = True
    raw_input = True

    def __init__(
        self,
        adapter,
        patch_len: int = 16,
        stride: int = 8,
        d_model: int = 32,
        num_heads: int = 4,
        d_keys: int | None = None,
        num_prototypes: int = 100,
        prefix_ids: Sequence[int] | Tensor | None = None,
        suffix_ids: Sequence[int] | Tensor | None = None,
        instance_norm: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(adapter)
        d_llm = adapter.embed_dim
        d_keys = int(d_keys or max(1, d_model // num_heads))
        self.patch_len, self.stride, self.num_heads, self.d_keys = (
            int(patch_len),
            int(stride),
            int(num_heads),
            d_keys,
        )
        self.instance_norm = bool(instance_norm)
        vocab = self.vocabulary().shape[0]
        self.patch_embedding = nn.Linear(self.patch_len, d_model)
        self.mapping = nn.Linear(vocab, int(num_prototypes))  # text prototypes W E
        self.query = nn.Linear(d_model, d_keys * num_heads)
        self.key = nn.Linear(d_llm, d_keys * num_heads)
        self.value = nn.Linear(d_llm, d_keys * num_heads)
        self.out = nn.Linear(d_keys * num_heads, d_llm)
        self.dropout = nn.Dropout(dropout)
        for name, ids in (("prefix_ids", prefix_ids), ("suffix_ids", suffix_ids)):
            if ids is not None and adapter.modality != "text":
                raise ValueError(f"reprogramming_layer: {name} needs a text model")
            self.register_buffer(
                name, None if ids is None else torch.as_tensor(ids, dtype=torch.long).view(-1)
            )

    def vocabulary(self) -> Tensor:
        """The frozen source vectors the prototypes are combined from, ``(V, D)``."""
        if self.adapter.modality == "text":
            return self.adapter.vocab_embeddings
        return patch_basis_embeddings(self.adapter)

    def patches(self, x: Tensor) -> Tensor:
        """``(B, T)`` / ``(B, C, T)`` -> ``(B, C·L, patch_len)`` overlapping patches."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3:
            raise ValueError(
                f"reprogramming_layer: expected a series (B, T) or (B, C, T), got {tuple(x.shape)}"
            )
        x = x.float()
        if self.instance_norm:
            x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + 1e-5)
        x = F.pad(x, (0, self.stride), mode="replicate")
        if x.shape[-1] < self.patch_len:
            raise ValueError(
                f"reprogramming_layer: series of length {x.shape[-1] - self.stride} shorter than a patch"
            )
        p = x.unfold(-1, self.patch_len, self.stride)  # (B, C, L, patch_len)
        return p.reshape(p.shape[0], -1, self.patch_len)

    def reprogram(self, x: Tensor) -> Tensor:
        """Cross-attention of embedded patches onto the text prototypes: ``(B, N, D_llm)``."""
        vocab = self.vocabulary()
        queries = self.query(self.patch_embedding(self.patches(x).to(vocab.dtype)))
        b, n, _ = queries.shape
        h, e = self.num_heads, self.d_keys
        prototypes = self.mapping(vocab.T).T  # (K, D_llm)
        q = queries.view(b, n, h, e)
        k = self.key(prototypes).view(-1, h, e)
        v = self.value(prototypes).view(-1, h, e)
        scores = torch.einsum("bnhe,khe->bhnk", q, k) / math.sqrt(e)
        attention = self.dropout(scores.softmax(-1))
        out = torch.einsum("bhnk,khe->bnhe", attention, v).reshape(b, n, h * e)
        return self.out(out)

    def transform_embeddings(self, x: Any, embed) -> Tensor:
        tokens = self.reprogram(x)
        if self.adapter.modality == "vision":
            return self.adapter.embed_patch_tokens(tokens)
        parts = [tokens]
        b = tokens.shape[0]
        if self.prefix_ids is not None:
            parts.insert(0, self.adapter.embedding(self.prefix_ids).unsqueeze(0).expand(b, -1, -1))
        if self.suffix_ids is not None:
            parts.append(self.adapter.embedding(self.suffix_ids).unsqueeze(0).expand(b, -1, -1))
        return torch.cat(parts, dim=1)
