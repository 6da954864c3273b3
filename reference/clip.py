"""CLIP as a frozen zero-shot classifier, with an embedding-level hook on its text encoder.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision" (ICML
2021): an image is classified by the cosine similarity between its image feature and the text
feature of one prompt per class, scaled by CLIP's learned temperature,

    logits[b, k] = exp(t) · cos(g(x_b), h(prompt_k)).

The class prompts (a tokenizer's output for, e.g., ``["a photo of a cat.", ...]`` or just the
class names) belong to the frozen model here: they fix its ``K`` source classes, so the identity
alignment reads its logits as the target's. A manipulation's embedding hook then acts on the
*text* encoder's token embeddings of those prompts (CoOp, CoCoOp); an input-level hook acts on
the images, as on any image backbone (images in ``[0, 1]``, resized and normalised here).

Tokens a manipulation inserts go after the start-of-text token (``prompt_offset = 1``) and before
the end-of-text token, whose final state is the text feature; the adapter moves that read-out by
the number of inserted tokens. A manipulation may return one sequence per class ``(K, L', D)``
or, conditioned on each image (``ClassPrompts.image_features``), ``(B, K, L', D)``.

Loading real weights (a download; tests use a tiny random ``CLIPConfig`` instead)::

    adapter = load_clip("openai/clip-vit-base-patch16", ["cat", "dog"], template="{}.")
    rp = reference.Reprogrammed(adapter.model, create_manipulation("coop", adapter),
                                create_alignment("identity", 2, 2), adapter=adapter)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbones import ImageAdapter
from .core import Manipulation

# OpenAI CLIP's image normalisation (as ``transformers.utils.constants.OPENAI_CLIP_MEAN/STD``).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class ClassPrompts:
    """What the text-side embedding hook of :class:`CLIPAdapter` receives.

    ``input_ids``/``attention_mask`` ``(K, L)``: one tokenised prompt per class, start-of-text
    first, end-of-text the last real token; ``image_features`` ``(B, E)``: the batch's normalised
    image features, for manipulations conditioned on the image (CoCoOp's Meta-Net).
    """

    input_ids: Tensor
    attention_mask: Tensor
    image_features: Tensor | None = None


class CLIPAdapter(ImageAdapter):
    """A ``transformers`` ``CLIPModel`` as a ``K``-way zero-shot classifier over class prompts."""

    modality = "vision-language"
    supports_tokens = True
    prompt_offset = 1  # after the start-of-text token

    def __init__(
        self,
        model: nn.Module,
        class_prompts: Mapping[str, Any],
        input_size: int | Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        interpolation: str = "bicubic",
    ) -> None:
        vision = model.config.vision_config
        super().__init__(
            model,
            input_size=input_size or vision.image_size,
            mean=mean or CLIP_MEAN,
            std=std or CLIP_STD,
            interpolation=interpolation,
        )
        if "input_ids" not in class_prompts:
            raise ValueError("CLIP adapter: class_prompts must be a tokenizer's output (input_ids)")
        ids = torch.as_tensor(class_prompts["input_ids"], dtype=torch.long)
        mask = class_prompts.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else torch.as_tensor(mask, dtype=torch.long)
        if ids.dim() != 2 or mask.shape != ids.shape:
            raise ValueError(f"CLIP adapter: class prompts must be (K, L), got {tuple(ids.shape)}")
        if bool((mask.sum(1) < 2).any()):
            raise ValueError("CLIP adapter: every class prompt needs start- and end-of-text tokens")
        self.register_buffer("class_ids", ids, persistent=False)
        self.register_buffer("class_mask", mask, persistent=False)
        text = model.text_model
        self.embed_dim = int(text.config.hidden_size)
        self.num_layers = len(text.encoder.layers)
        self.image_dim = int(model.config.projection_dim)

    @property
    def num_source(self) -> int:
        return int(self.class_ids.shape[0])

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.model.text_model.embeddings.token_embedding

    def embed(self, prompts: ClassPrompts) -> Tensor:
        """Class prompts -> their token embeddings ``(K, L, D)`` (positions are added later)."""
        return self.token_embedding(prompts.input_ids)

    def encode_image(self, pixels: Tensor) -> Tensor:
        """Normalised pixels -> unit-norm image features ``(B, E)``."""
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return F.normalize(self.model.visual_projection(pooled), dim=-1)

    def encode_text(self, tokens: Tensor, eot: Tensor) -> Tensor:
        """Token embeddings ``(N, L', D)`` -> unit-norm text features ``(N, E)``, read at ``eot``.

        The frozen text encoder runs as ``transformers`` runs it (position embeddings, causal
        mask, final layer norm); a forward hook on its token embedding substitutes ``tokens`` for
        the embeddings of placeholder ids, as CoOp substitutes its context for "X X X X".
        """
        n, length = tokens.shape[:2]

        def substitute(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
            return tokens.to(output.dtype)

        placeholder = torch.zeros(n, length, dtype=torch.long, device=tokens.device)
        handle = self.token_embedding.register_forward_hook(substitute)
        try:
            states = self.model.text_model(input_ids=placeholder).last_hidden_state  # (N, L', D)
        finally:
            handle.remove()
        pooled = states[torch.arange(n, device=states.device), eot.to(states.device)]  # (N, D)
        return F.normalize(self.model.text_projection(pooled), dim=-1)

    def run(self, x: Any, manipulation: Manipulation) -> Tensor:
        if manipulation.uses_block_hooks or manipulation.uses_key_value_prefix:
            raise TypeError(
                f"{type(manipulation).__name__}: the CLIP adapter offers the input and the text "
                "embedding hooks only"
            )
        image = self.encode_image(self.prepare(x, manipulation))  # (B, E)
        prompts = ClassPrompts(self.class_ids, self.class_mask, image)
        # (K, L', D), or (B, K, L', D) for prompts conditioned on each image
        tokens = manipulation.transform_embeddings(prompts, self.embed)
        inserted = tokens.shape[-2] - self.class_ids.shape[1]
        eot = self.class_mask.sum(1) - 1 + inserted  # (K,)
        scale = self.model.logit_scale.exp()
        if tokens.dim() == 3:  # one prompt per class, shared by the batch
            text = self.encode_text(tokens, eot)  # (K, E)
            return scale * image @ text.T  # (B, K)
        b, k = tokens.shape[:2]
        text = self.encode_text(tokens.flatten(0, 1), eot.repeat(b)).view(b, k, -1)  # (B, K, E)
        return scale * torch.einsum("be,bke->bk", image, text)


def load_clip(
    name: str, class_names: Sequence[str], template: str = "{}.", **adapter_kwargs: Any
) -> CLIPAdapter:
    """A pre-trained CLIP (a hub name or a local directory) as a zero-shot classifier over
    ``template.format(name)`` for each class name."""
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(name).eval()
    tokenizer = AutoTokenizer.from_pretrained(name)
    prompts = tokenizer(
        [template.format(c) for c in class_names], padding=True, return_tensors="pt"
    )
    return CLIPAdapter(model, prompts, **adapter_kwargs)
