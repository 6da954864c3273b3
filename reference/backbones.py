"""Backbone adapters: one interface over timm/torchvision image models and ``transformers`` models.

A manipulation never calls the frozen model itself; the adapter runs the model and calls the
manipulation's hooks at the right places (see ``core.py``):

* :class:`ImageAdapter` (any timm or torchvision image classifier): ``transform_input`` on images in
  ``[0, 1]``, resize to the source resolution if the manipulation did not, normalise with the
  model's mean/std, run the model. Only input-level manipulations fit here.
* :class:`ViTAdapter` (a timm ``VisionTransformer``): the same input path, plus the model split into
  ``embed`` (patch embedding, class/register tokens, position embedding), ``blocks`` and ``head``
  (final norm, pooling, classifier) so embedding- and hidden-level manipulations can act between
  them. Tokens a manipulation inserts after the prefix tokens are dropped before the head, so
  ``global_pool='token'`` and ``'avg'`` pool exactly the tokens the model was trained to pool.
* :class:`TextAdapter` (a ``transformers`` model): embeddings through ``inputs_embeds``, the
  per-layer hooks through forward (pre-)hooks on the model's list of layers, key/value prefixes
  through the model's own key/value cache argument, and source logits read at the answer
  position (the ``[MASK]`` token of a masked LM, the last non-padding token of a causal LM; a
  sequence-classification head's logits as they are).
* ``reference.clip.CLIPAdapter`` (a ``transformers`` ``CLIPModel``): zero-shot CLIP over a set of
  class prompts, with the embedding-level hook on the text encoder (CoOp, CoCoOp).

``transformers`` is never imported here: text models are recognised by their class's module.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .core import Manipulation, TokenBatch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) == 3:  # (C, H, W) as timm writes it
        size = size[1:]
    if len(size) != 2:
        raise ValueError(f"input_size: expected an int, (H, W) or (C, H, W), got {size!r}")
    return size  # type: ignore[return-value]


def is_text_model(model: nn.Module) -> bool:
    """A Hugging Face ``transformers`` model (recognised without importing transformers)."""
    return type(model).__module__.startswith("transformers.") and hasattr(
        model, "get_input_embeddings"
    )


def is_clip_model(model: nn.Module) -> bool:
    """A ``transformers`` CLIP-style dual encoder (``CLIPModel`` and its relatives)."""
    return is_text_model(model) and all(
        hasattr(model, a) for a in ("text_model", "vision_model", "text_projection", "logit_scale")
    )


def is_timm_vit(model: nn.Module) -> bool:
    """A timm ``VisionTransformer`` (or subclass, e.g. DeiT-distilled) that can be run block by block."""
    try:
        from timm.models.vision_transformer import VisionTransformer
    except ImportError:  # pragma: no cover - timm is a dependency of the extra
        return False
    return isinstance(model, VisionTransformer)


class Adapter(nn.Module):
    """The frozen model and the knowledge of how to run it around a manipulation's hooks."""

    modality: str = "vision"
    #: True for backbones that run on a token sequence (embedding/hidden manipulations fit).
    supports_tokens: bool = False
    #: Where inserted tokens go: after a ViT's prefix tokens, at the start of a text sequence.
    prompt_offset: int = 0
    embed_dim: int | None = None
    num_layers: int = 0

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def num_source(self) -> int:
        """Number of source logits the model produces (classes, or vocabulary size)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (CPU for a model without parameters)."""
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def to_device(self, x: Any) -> Any:
        """Move an input (tensor, mapping of tensors, ``TokenBatch``) to the model's device."""
        device = self.device
        if isinstance(x, Tensor):
            return x.to(device)
        if isinstance(x, TokenBatch):
            return TokenBatch(
                **{k: None if v is None else v.to(device) for k, v in vars(x).items()}
            )
        if hasattr(x, "keys"):
            return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in x.items()}
        return x

    def run(self, x: Any, manipulation: Manipulation) -> Tensor:
        """Source logits of the model on the manipulated input."""
        raise NotImplementedError

    @property
    def num_features(self) -> int:
        """Size of what the model's output layer reads (see :meth:`features`)."""
        raise TypeError(f"{type(self.model).__name__}: this adapter does not expose features")

    def features(self, x: Any, manipulation: Manipulation) -> Tensor:
        """What the model's output layer reads on the manipulated input, ``(B, num_features)``."""
        raise TypeError(f"{type(self.model).__name__}: this adapter does not expose features")

    def hidden_states(self, x: Any) -> list[Tensor]:
        """The input of every block for ``x`` (no manipulation), each ``(B, N, D)``, without grad."""
        raise TypeError(f"{type(self.model).__name__} is not a token-sequence backbone")


class RecordStates(Manipulation):
    """Records the residual stream at every block, changing nothing: each block's input
    (``at="input"``: steering vectors, demonstration states) or output (``at="output"``: the
    in-context vector's shift)."""

    cell = ("fixed", "hidden", "additive")

    def __init__(self, adapter: Adapter, at: str = "input") -> None:
        super().__init__(adapter)
        if at not in ("input", "output"):
            raise ValueError(f"RecordStates: at must be 'input' or 'output', not {at!r}")
        self.at = at
        self.states: list[Tensor] = []

    def before_block(self, index: int, hidden: Tensor) -> Tensor:
        if self.at == "input":
            self.states.append(hidden.detach())
        return hidden

    def after_block(self, index: int, hidden: Tensor) -> Tensor:
        if self.at == "output":
            self.states.append(hidden.detach())
        return hidden


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
class ImageAdapter(Adapter):
    """Any image classifier taking a normalised ``(B, 3, H, W)`` tensor (timm, torchvision, ...).

    Mean/std and resolution come from timm's ``resolve_data_config`` (the model's
    ``pretrained_cfg``) when the model has one, ImageNet's otherwise; ``input_size``, ``mean`` and
    ``std`` override them (a timm ViT's resolution is always its patch embedding's ``img_size``).
    """

    modality = "vision"

    def __init__(
        self,
        model: nn.Module,
        input_size: int | Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(model)
        cfg: dict[str, Any] = {}
        if getattr(model, "pretrained_cfg", None) is not None:
            from timm.data import resolve_data_config

            cfg = resolve_data_config(model=model)
        img_size = getattr(getattr(model, "patch_embed", None), "img_size", None)
        size = input_size or img_size or cfg.get("input_size") or (224, 224)
        self.input_size: tuple[int, int] = _pair(size)
        mean = tuple(mean or cfg.get("mean") or IMAGENET_MEAN)
        std = tuple(std or cfg.get("std") or IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        # (x − mean) / std as one fused x·scale + shift.
        self.register_buffer("scale", 1.0 / self.std, persistent=False)
        self.register_buffer("shift", -self.mean / self.std, persistent=False)
        self.interpolation = interpolation
        self._num_source: int | None = None

    @property
    def num_source(self) -> int:
        if self._num_source is None:
            n = getattr(self.model, "num_classes", None)
            features = getattr(self.model, "num_features", None)
            if isinstance(n, int) and n > 0:
                self._num_source = n
            elif n == 0 and isinstance(features, int):
                # A headless timm model (num_classes=0) returns its pooled features.
                self._num_source = features
            else:
                linears = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
                if linears:
                    self._num_source = linears[-1].out_features
                else:  # a conv head: ask the model
                    p = next(self.model.parameters())
                    probe = torch.zeros(1, 3, *self.input_size, device=p.device, dtype=p.dtype)
                    with torch.no_grad():
                        self._num_source = int(self.model(probe).shape[-1])
        return self._num_source

    def fit(self, x: Tensor) -> Tensor:
        """Resize to the source resolution when the manipulation left another size."""
        if x.dim() != 4:
            raise ValueError(
                f"image backbone: expected images (B, C, H, W), got shape {tuple(x.shape)}"
            )
        if tuple(x.shape[-2:]) != self.input_size:
            linear = self.interpolation in ("bilinear", "bicubic")
            x = F.interpolate(
                x,
                size=self.input_size,
                mode=self.interpolation,
                align_corners=False if linear else None,
            )
        return x

    def normalize(self, x: Tensor) -> Tensor:
        """``(x − mean) / std`` with the model's statistics (images arrive in ``[0, 1]``)."""
        return torch.addcmul(self.shift.to(x.dtype), x, self.scale.to(x.dtype))

    def prepare(self, x: Tensor, manipulation: Manipulation) -> Tensor:
        """Input manipulation, resize, normalisation: what the model's first layer sees."""
        return self.normalize(self.fit(manipulation.transform_input(x)))

    def run(self, x: Any, manipulation: Manipulation) -> Tensor:
        if manipulation.uses_embeddings:
            raise TypeError(
                f"{type(manipulation).__name__} acts on tokens; {type(self.model).__name__} is not a "
                "token-sequence backbone (use a timm VisionTransformer)"
            )
        return self.model(self.prepare(x, manipulation))


class ViTAdapter(ImageAdapter):
    """A timm ``VisionTransformer`` split into embed / blocks / head."""

    supports_tokens = True

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.prompt_offset = int(model.num_prefix_tokens)
        self.embed_dim = int(model.embed_dim)
        self.num_layers = len(model.blocks)
        self.num_patches = int(model.patch_embed.num_patches)
        self.patch_size = _pair(model.patch_embed.patch_size)

    @property
    def blocks(self) -> nn.Module:
        return self.model.blocks

    def embed(self, x: Tensor) -> Tensor:
        """Normalised images -> the token sequence entering block 0 (prefix tokens first)."""
        m = self.model
        x = m.patch_embed(x)
        x = m._pos_embed(x)
        x = m.patch_drop(x)
        return m.norm_pre(x)

    def embed_patch_tokens(self, tokens: Tensor) -> Tensor:
        """Patch-like tokens ``(B, N, D)`` made elsewhere (a reprogramming layer) -> block-0 input.

        Adds the first ``N`` position embeddings and the class/register tokens exactly as
        ``_pos_embed`` does for real patches, so the model sees a well-formed sequence.
        """
        m = self.model
        b, n, _ = tokens.shape
        if n > self.num_patches:
            raise ValueError(
                f"ViT backbone: {n} patch tokens exceed the model's {self.num_patches}"
            )
        prefix = []
        if m.cls_token is not None:
            prefix.append(m.cls_token.expand(b, -1, -1))
        if getattr(m, "reg_token", None) is not None:
            prefix.append(m.reg_token.expand(b, -1, -1))
        pos = m.pos_embed
        if pos is None:
            x = torch.cat(prefix + [tokens], dim=1)
        elif m.no_embed_class:
            x = torch.cat(prefix + [tokens + pos[:, :n]], dim=1)
        else:
            x = torch.cat(prefix + [tokens], dim=1) + pos[:, : self.prompt_offset + n]
        return m.norm_pre(m.pos_drop(x))

    def head(self, tokens: Tensor) -> Tensor:
        """Final norm, pooling and classifier."""
        return self.model.forward_head(self.model.norm(tokens))

    def run_tokens(self, tokens: Tensor, manipulation: Manipulation, inserted: int) -> Tensor:
        hooks = manipulation.uses_block_hooks
        for i, block in enumerate(self.model.blocks):
            if hooks:
                tokens = manipulation.before_block(i, tokens)
            tokens = block(tokens)
            if hooks:
                tokens = manipulation.after_block(i, tokens)
        if inserted > 0:
            o = self.prompt_offset
            tokens = torch.cat([tokens[:, :o], tokens[:, o + inserted :]], dim=1)
        return self.head(tokens)

    def run(self, x: Any, manipulation: Manipulation) -> Tensor:
        if manipulation.raw_input:
            tokens = manipulation.transform_embeddings(manipulation.transform_input(x), self.embed)
            return self.run_tokens(tokens, manipulation, 0)
        x = self.prepare(x, manipulation)
        if not manipulation.uses_embeddings:
            return self.model(x)
        seen: list[int] = []

        def embed(images: Tensor) -> Tensor:
            tokens = self.embed(images)
            seen.append(tokens.shape[1])
            return tokens

        tokens = manipulation.transform_embeddings(x, embed)
        inserted = tokens.shape[1] - seen[-1] if seen else 0
        return self.run_tokens(tokens, manipulation, inserted)

    @torch.no_grad()
    def hidden_states(self, x: Tensor) -> list[Tensor]:
        capture = RecordStates(self)
        tokens = self.embed(self.normalize(self.fit(self.to_device(x))))
        for i, block in enumerate(self.model.blocks):
            tokens = block(capture.before_block(i, tokens))
        return capture.states


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------
_LAYER_PATHS = (
    "encoder.layer",  # BERT, RoBERTa, ELECTRA
    "encoder.layers",
    "transformer.layer",  # DistilBERT
    "h",  # GPT-2, GPT-J, GPT-Neo, BLOOM
    "layers",  # LLaMA, Mistral, Qwen, OPT decoder (under .decoder)
    "decoder.layers",  # OPT
    "blocks",
    "layer",
)


def _attribute_path(obj: Any, path: str) -> Any:
    """``obj.a.b.c`` for ``path`` ``"a.b.c"``, or None where any step is missing."""
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer layers of a ``transformers`` model, found by common attribute paths."""
    roots = [getattr(model, "base_model", model), model]
    for root in roots:
        for path in _LAYER_PATHS:
            obj = _attribute_path(root, path)
            if isinstance(obj, nn.ModuleList) and len(obj) > 0:
                return obj
    raise TypeError(
        f"{type(model).__name__}: cannot find its list of layers (tried "
        f"{', '.join(_LAYER_PATHS)} under base_model)"
    )


#: Where a layer's attention output projection ``W_O`` lives (its input: the heads' outputs
#: concatenated, ``(B, N, H·d)``): GPT-2, Llama/Mistral/Qwen/OPT, BERT/RoBERTa, GPT-NeoX, others.
_OUT_PROJECTION_PATHS = (
    "attn.c_proj",
    "self_attn.o_proj",
    "attention.output.dense",
    "attention.dense",
    "self_attn.out_proj",
    "attn.out_proj",
    "self_attention.dense",
)


class TextAdapter(Adapter):
    """A ``transformers`` model run from ``inputs_embeds`` with hooks on its layers."""

    modality = "text"
    supports_tokens = True
    prompt_offset = 0

    def __init__(
        self,
        model: nn.Module,
        mask_token_id: int | None = None,
        pool: str | None = None,
        normalize: bool = False,
    ) -> None:
        super().__init__(model)
        if pool not in (None, "mean"):
            raise ValueError(f"pool must be 'mean' or None, got {pool!r}")
        #: ``"mean"``: the source "logits" are the mean of the last hidden states over the
        #: attended positions (a sentence-embedding model's pooling), ``normalize``d to unit length.
        self.pool, self.normalize = pool, bool(normalize)
        config = model.config
        if getattr(config, "is_encoder_decoder", False):
            raise TypeError(
                f"{type(model).__name__}: encoder-decoder models are not supported by the reference "
                "text adapter; use an encoder (masked LM) or a decoder-only causal LM"
            )
        self.layers = find_layers(model)
        self.num_layers = len(self.layers)
        self.embed_dim = int(model.get_input_embeddings().embedding_dim)
        name = type(model).__name__
        self.is_masked_lm = "MaskedLM" in name
        self.is_classifier = "ForSequenceClassification" in name
        self.mask_token_id = (
            mask_token_id if mask_token_id is not None else getattr(config, "mask_token_id", None)
        )
        self._use_cache = hasattr(config, "use_cache") and not self.is_masked_lm
        # transformers 5 renamed ``past_key_values`` to ``cache`` (the old name warns until 5.40).
        forward = inspect.signature(getattr(model, "base_model", model).forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward else "past_key_values"

    @property
    def num_kv_heads(self) -> int:
        """Heads of the attention keys/values (fewer than query heads under grouped-query
        attention)."""
        config = self.model.config
        return int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)

    @property
    def head_dim(self) -> int:
        config = self.model.config
        return int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )

    @property
    def num_features(self) -> int:
        """Width of the hidden state the output embedding (LM head) projects onto the vocabulary."""
        head = self.model.get_output_embeddings()
        if head is None:
            raise TypeError(
                f"{type(self.model).__name__} has no output embedding to read features at"
            )
        return int(head.weight.shape[1])

    def key_value_cache(self, prefix: Sequence[tuple[Tensor, Tensor]]) -> Any:
        """Per-layer ``(keys, values)`` as the model's key/value cache (a fresh DynamicCache)."""
        from transformers import DynamicCache

        if len(prefix) != self.num_layers:
            raise ValueError(
                f"key/value prefix: {len(prefix)} layers for a {self.num_layers}-layer model"
            )
        return DynamicCache(list(prefix))

    # -- inside attention: the heads' outputs (function vectors) ----------------------------
    @property
    def num_heads(self) -> int:
        return int(self.model.config.num_attention_heads)

    def out_projection(self, layer: int) -> nn.Module:
        """Layer ``layer``'s attention output projection ``W_O``, whose input is the heads'
        outputs side by side (head ``h`` in columns ``h·d … (h+1)·d``)."""
        block = self.layers[layer]
        for path in _OUT_PROJECTION_PATHS:
            obj = _attribute_path(block, path)
            if isinstance(obj, nn.Module):
                return obj
        raise TypeError(
            f"{type(self.model).__name__}: cannot find layer {layer}'s attention output projection "
            f"(tried {', '.join(_OUT_PROJECTION_PATHS)})"
        )

    @torch.no_grad()
    def head_outputs(self, x: Any, layers: Sequence[int]) -> dict[int, Tensor]:
        """Each listed layer's per-head attention outputs on ``x``, ``(B, N, H, d)``, read where
        the output projection reads them (a pre-hook on ``W_O``; the run is otherwise plain)."""
        batch = TokenBatch.coerce(self.to_device(TokenBatch.coerce(x)))
        seen: dict[int, Tensor] = {}
        handles = []

        def capture(layer: int) -> Callable:
            def hook(module: nn.Module, args: tuple) -> None:
                z = args[0]  # (B, N, H·d)
                seen[layer] = z.detach().reshape(*z.shape[:2], self.num_heads, -1)

            return hook

        try:
            for layer in layers:
                handles.append(self.out_projection(layer).register_forward_pre_hook(capture(layer)))
            self.forward_embeddings(self.embed(batch), batch.mask(), Manipulation(self))
        finally:
            for h in handles:
                h.remove()
        return seen

    @torch.no_grad()
    def project_head(self, layer: int, head: int, value: Tensor) -> Tensor:
        """Head ``head``'s output ``value`` ``(d,)`` as its contribution to the residual stream,
        ``W_O[:, h·d:(h+1)·d] · value`` ``(D,)`` (the projection's bias is not the head's)."""
        proj = self.out_projection(layer)
        d = value.shape[-1]
        z = value.new_zeros(2, self.num_heads * d)
        z[0, head * d : (head + 1) * d] = value
        out = proj(z.unsqueeze(1).to(self.device)).squeeze(1)  # row 1: the bias alone
        return (out[0] - out[1]).float()

    @property
    def num_source(self) -> int:
        if self.pool is not None:
            return int(self.model.config.hidden_size)
        if self.is_classifier:
            return int(self.model.config.num_labels)
        out = self.model.get_output_embeddings()
        if out is not None:
            return int(out.weight.shape[0])
        return int(self.model.config.vocab_size)

    @property
    def embedding(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    @property
    def vocab_embeddings(self) -> Tensor:
        """The frozen word-embedding table ``(V, D)``."""
        return self.embedding.weight

    def embed(self, x: Any) -> Tensor:
        """Token ids (or a batch already holding ``inputs_embeds``) -> word embeddings ``(B, L, D)``."""
        batch = TokenBatch.coerce(x)
        if batch.inputs_embeds is not None:
            return batch.inputs_embeds
        return self.embedding(batch.input_ids)

    def answer_index(self, batch: TokenBatch) -> Tensor:
        """Where the source logits are read: explicit, the [MASK] token, or the last real token."""
        if batch.answer_index is not None:
            return batch.answer_index
        if self.is_masked_lm:
            if self.mask_token_id is None:
                raise ValueError(
                    f"{type(self.model).__name__}: a masked LM needs mask_token_id "
                    "(adapter_kwargs={'mask_token_id': tokenizer.mask_token_id}) or an answer_index"
                )
            if batch.input_ids is None:
                raise ValueError(
                    "masked LM: inputs given as embeddings need an explicit answer_index"
                )
            hits = batch.input_ids == self.mask_token_id
            if not bool(hits.any(dim=1).all()):
                raise ValueError(
                    f"masked LM: every sequence needs a [MASK] token (id {self.mask_token_id})"
                )
            return hits.int().argmax(dim=1)
        mask = batch.mask()
        length = mask.shape[1]
        return length - 1 - mask.flip(1).int().argmax(dim=1)

    @contextlib.contextmanager
    def _hooks(self, manipulation: Manipulation) -> Iterator[None]:
        if not manipulation.uses_block_hooks:
            yield
            return
        handles = []

        def pre(i: int) -> Callable:
            def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
                if args:
                    return (manipulation.before_block(i, args[0]),) + tuple(args[1:]), kwargs
                kwargs = dict(kwargs)
                kwargs["hidden_states"] = manipulation.before_block(i, kwargs["hidden_states"])
                return args, kwargs

            return hook

        def post(i: int) -> Callable:
            def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
                if isinstance(output, Tensor):
                    return manipulation.after_block(i, output)
                return (manipulation.after_block(i, output[0]),) + tuple(output[1:])

            return hook

        # prepend=True: the manipulation acts first, so the block (and any other hook) sees its
        # result, exactly as on the ViT path where the adapter calls the hooks itself.
        try:
            for i, layer in enumerate(self.layers):
                handles.append(
                    layer.register_forward_pre_hook(pre(i), with_kwargs=True, prepend=True)
                )
                handles.append(layer.register_forward_hook(post(i), with_kwargs=True, prepend=True))
            yield
        finally:
            for h in handles:
                h.remove()

    @contextlib.contextmanager
    def _answer_only(
        self, answer: Tensor | None, seen: list[Tensor] | None = None
    ) -> Iterator[None]:
        """Project only the answer position onto the vocabulary.

        The output embedding (the LM head's final ``Linear``) would otherwise produce ``(B, L, V)``
        logits — 1.6 GB at batch 64, 128 tokens, GPT-2's 50k vocabulary — of which one row per
        sequence is read. A pre-hook gathers the answer position's hidden state first (and appends
        it to ``seen`` when given: the features); anything after the projection (soft-capping,
        scaling) is element-wise and unaffected.
        """
        head = None if answer is None else self.model.get_output_embeddings()
        if head is None:
            yield
            return

        def gather(module: nn.Module, args: tuple) -> tuple:
            h = args[0]
            if h.dim() != 3:
                return args
            rows = torch.arange(h.shape[0], device=h.device)
            h = h[rows, answer.to(h.device)]
            if seen is not None:
                seen.append(h)
            return (h.unsqueeze(1),) + tuple(args[1:])

        handle = head.register_forward_pre_hook(gather, prepend=True)
        try:
            yield
        finally:
            handle.remove()

    def forward_embeddings(
        self,
        embeds: Tensor,
        mask: Tensor,
        manipulation: Manipulation,
        answer: Tensor | None = None,
        features: bool = False,
    ) -> Tensor:
        """Run the model on embeddings; returns its logits: ``(B, V)`` at ``answer`` when given,
        else what the model returns (``(B, L, V)``, or ``(B, C)`` for a classifier). With
        ``features``, the answer position's input to the output embedding ``(B, D)`` instead.

        A manipulation's key/value prefix becomes the model's key/value cache: every attention
        layer reads it before the sequence, exactly as if it had been computed for ``P`` earlier
        tokens (positions then start at ``P``, and the attention mask gains ``P`` ones in front).
        """
        kwargs: dict[str, Any] = {"inputs_embeds": embeds, "attention_mask": mask}
        if self._use_cache:
            kwargs["use_cache"] = False
        if manipulation.uses_key_value_prefix:
            prefix = manipulation.key_value_prefix(embeds.shape[0])
            if prefix is not None:
                kwargs[self._cache_kwarg] = self.key_value_cache(prefix)
                ones = mask.new_ones(mask.shape[0], prefix[0][0].shape[-2])
                kwargs["attention_mask"] = torch.cat([ones, mask], dim=1)
        if features and (answer is None or self.model.get_output_embeddings() is None):
            raise TypeError(
                f"{type(self.model).__name__}: features are read at the answer position, before "
                "the output embedding; this model has no such head"
            )
        seen: list[Tensor] = []
        if self.pool is not None:  # a sentence embedding: mean over the attended positions
            with self._hooks(manipulation):
                states = self.model(**kwargs).last_hidden_state  # (B, L, D)
            weights = mask.to(states.dtype).unsqueeze(-1)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
            return F.normalize(pooled, dim=-1) if self.normalize else pooled
        with self._hooks(manipulation), self._answer_only(answer, seen if features else None):
            logits = self.model(**kwargs).logits
        if features:
            return seen[-1]
        if answer is not None and logits.dim() == 3:
            if logits.shape[1] == 1:
                return logits[:, 0]
            return logits[torch.arange(logits.shape[0], device=logits.device), answer]
        return logits

    def run(self, x: Any, manipulation: Manipulation) -> Tensor:
        return self._forward(x, manipulation, features=False)

    def features(self, x: Any, manipulation: Manipulation) -> Tensor:
        return self._forward(x, manipulation, features=True)

    def _forward(self, x: Any, manipulation: Manipulation, features: bool) -> Tensor:
        x = manipulation.transform_input(x)
        raw = isinstance(x, Tensor) and x.is_floating_point()
        batch = None if raw else TokenBatch.coerce(x)
        seen: list[int] = []

        def embed(inputs: Any) -> Tensor:
            tokens = self.embed(inputs)
            seen.append(tokens.shape[1])
            return tokens

        embeds = manipulation.transform_embeddings(x if raw else batch, embed)
        b, length = embeds.shape[:2]
        if batch is None or not seen:
            # A reprogramming layer built the whole sequence: all of it is real, the answer is last.
            mask = torch.ones(b, length, dtype=torch.long, device=embeds.device)
            answer = torch.full((b,), length - 1, dtype=torch.long, device=embeds.device)
        else:
            inserted = length - seen[-1]
            mask = batch.mask().to(embeds.device)
            answer = None if self.is_classifier else self.answer_index(batch)
            if inserted:
                mask = torch.cat([mask.new_ones(b, inserted), mask], dim=1)
                answer = None if answer is None else answer + inserted
        return self.forward_embeddings(embeds, mask, manipulation, answer, features)

    @torch.no_grad()
    def hidden_states(self, x: Any) -> list[Tensor]:
        capture = RecordStates(self)
        batch = TokenBatch.coerce(self.to_device(TokenBatch.coerce(x)))
        self.forward_embeddings(self.embed(batch), batch.mask(), capture)
        return capture.states


def adapt(model_or_adapter: Any, **kwargs: Any) -> Adapter:
    """Wrap a model in the adapter for its kind (an adapter passes through unchanged)."""
    if isinstance(model_or_adapter, Adapter):
        if kwargs:
            raise TypeError("adapt: keyword arguments given for an existing adapter")
        return model_or_adapter
    if not isinstance(model_or_adapter, nn.Module):
        raise TypeError(f"adapt: expected a torch model, got {type(model_or_adapter).__name__}")
    if is_clip_model(model_or_adapter):
        from .clip import CLIPAdapter

        return CLIPAdapter(model_or_adapter, **kwargs)
    if is_text_model(model_or_adapter):
        return TextAdapter(model_or_adapter, **kwargs)
    if is_timm_vit(model_or_adapter):
        return ViTAdapter(model_or_adapter, **kwargs)
    return ImageAdapter(model_or_adapter, **kwargs)
