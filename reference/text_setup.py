"""Building a text or CLIP run from a config: backbone, tokenizer, and the text in the kwargs.

A config writes what a paper writes — label words, a placeholder token, an initial phrase,
demonstrations, contrast prompts — and the components take token ids or token batches. This
module turns one into the other with the backbone's own tokenizer and checks that the result
means what the config says: a verbalizer's label word must be one token of the vocabulary (the
model scores one position), a placeholder must be a token the tokenizer knows. A word that is
not reports the config line it was written on.

Text the kwargs may hold (everything else is passed on unchanged):

* manipulation ``placeholder_id`` (WARP, P-tuning): a token string such as ``"[unused0]"``;
* manipulation ``init_ids`` (WARP, prefix tuning, CoOp): a phrase, tokenised without special
  tokens (CoOp's "a photo of a");
* ``demonstrations``: ``instruction``, ``examples`` (``input``, ``label``, optional
  ``rationale``), ``input_template``, ``answer_template``, ``chain_of_thought``, ``separator``
  — the prompt text of :class:`~reference.manipulations.input_concatenative.demonstrations.PromptBuilder`,
  or ``context``: the text itself;
* ``steering_vector`` ``positives``/``negatives``: lists of prompts, tokenised into batches;
* ``loreft`` ``positions``: a YAML list ``[last, 2]`` becomes the tuple it expects;
* alignment ``label_words`` (``verbalizer``; ``class-embeddings``, whose class embeddings start
  at the label words' output-embedding rows, as WARP initialises them);
* alignment ``class_texts`` (``linear``): one description per class; the head starts as the
  frozen model's embeddings of them (a zero-shot classifier by similarity, as CLIP's heads),
  scaled by ``class_text_scale``; ``freeze: true`` keeps any alignment fixed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .data import DataError

AUTO_CLASSES = {
    "masked-lm": "AutoModelForMaskedLM",
    "causal-lm": "AutoModelForCausalLM",
    "features": "AutoModel",
}


def load_text_model(cfg: TrainConfig) -> nn.Module:
    """The frozen ``transformers`` model of ``cfg.model`` (a local directory or a hub name)."""
    import transformers

    cls = getattr(transformers, AUTO_CLASSES[cfg.text.head])
    try:
        if cfg.pretrained:
            model = cls.from_pretrained(cfg.model, **cfg.model_kwargs)
        else:  # random weights of the named architecture (tests, ablations)
            config = transformers.AutoConfig.from_pretrained(cfg.model, **cfg.model_kwargs)
            model = cls.from_config(config)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise cfg.error("model", f"cannot load {cfg.model!r} as {cls.__name__}: {first}") from None
    return model.eval()


def load_clip_model(cfg: TrainConfig) -> nn.Module:
    from transformers import CLIPModel

    try:
        if cfg.pretrained:
            return CLIPModel.from_pretrained(cfg.model).eval()
        from transformers import CLIPConfig

        return CLIPModel(CLIPConfig.from_pretrained(cfg.model)).eval()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise cfg.error("model", f"cannot load {cfg.model!r} as CLIPModel: {first}") from None


def tokenizer_for(cfg: TrainConfig) -> Any:
    """The tokenizer named in ``text.tokenizer``, else the model's own."""
    from .text_data import load_tokenizer

    name = cfg.text.tokenizer or cfg.model
    try:
        return load_tokenizer(name)
    except DataError as exc:
        raise cfg.error("text.tokenizer" if cfg.text.tokenizer else "model", str(exc)) from None


def adapter_kwargs(cfg: TrainConfig, tokenizer: Any) -> dict[str, Any]:
    """``backbones.adapt`` kwargs: the tokenizer's mask token, the pooling of a feature head."""
    kwargs = dict(cfg.adapter_kwargs)
    if cfg.text.head == "masked-lm" and getattr(tokenizer, "mask_token_id", None) is not None:
        kwargs.setdefault("mask_token_id", int(tokenizer.mask_token_id))
    if cfg.text.head == "features":
        kwargs.setdefault("pool", "mean")
        kwargs.setdefault("normalize", cfg.text.normalize)
    return kwargs


def clip_class_prompts(cfg: TrainConfig, tokenizer: Any, class_names: Sequence[str]) -> Any:
    """CLIP's class prompts: ``data.class_template`` filled with each class name, tokenised."""
    if len(class_names) != cfg.num_classes:
        raise cfg.error(
            "data.class_names" if cfg.data.class_names else "num_classes",
            f"{len(class_names)} class names for num_classes={cfg.num_classes}",
        )
    texts = [cfg.data.class_template.format(name.replace("_", " ")) for name in class_names]
    return tokenizer(texts, padding=True, return_tensors="pt")


# --------------------------------------------------------------------------------------------
# Text in the kwargs
# --------------------------------------------------------------------------------------------


def _token_id(cfg: TrainConfig, tokenizer: Any, key: str, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids([token])
    unk = getattr(tokenizer, "unk_token_id", None)
    if not ids or ids[0] is None or (ids[0] == unk and token != tokenizer.unk_token):
        raise cfg.error(key, f"{token!r} is not a token of the tokenizer's vocabulary")
    return int(ids[0])


def prepare_tokenizer(cfg: TrainConfig, tokenizer: Any) -> None:
    """Make a placeholder token (``manipulation.kwargs.placeholder_id: "[unused1]"``) one
    token wherever a template writes it, before any text is tokenised.

    A vocabulary entry such as BERT's ``[unused1]`` is not a special token, so the tokenizer
    would split it at its brackets; registering it as an additional special token keeps it whole
    without adding an id (it must already be in the vocabulary).
    """
    token = cfg.manipulation.kwargs.get("placeholder_id")
    if not isinstance(token, str):
        return
    key = "manipulation.kwargs.placeholder_id"
    _token_id(cfg, tokenizer, key, token)
    if token not in tokenizer.all_special_tokens:
        before = len(tokenizer)
        tokenizer.add_tokens([token], special_tokens=True)
        if len(tokenizer) != before:  # pragma: no cover - _token_id found it in the vocabulary
            raise cfg.error(key, f"{token!r} is not in the tokenizer's vocabulary")


def check_kwargs(cfg: TrainConfig, tokenizer: Any) -> None:
    """Resolve the kwargs' text once before the model is loaded, so that a label word of
    several tokens or an unknown placeholder fails before anything heavy happens."""
    resolve_manipulation_kwargs(cfg, tokenizer, check_only=True)
    resolve_alignment_kwargs(cfg, tokenizer)


def _phrase_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def single_token(cfg: TrainConfig, tokenizer: Any, key: str, word: Any) -> int:
    """The one token id of a label word; a word of several tokens is an error at its line.

    A verbalizer scores one position, so a word the tokenizer splits would be scored by its
    first piece only — a different word. PET and LM-BFF choose single-token label words; so
    must a config (mind GPT-2's leading space: ``" great"`` is one token, ``"great"`` may not be).
    """
    if not isinstance(word, str) or not word.strip():
        raise cfg.error(key, f"expected a label word, got {word!r}")
    ids = _phrase_ids(tokenizer, word)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise cfg.error(
            key,
            f"label word {word!r} is {len(ids)} tokens ({', '.join(map(repr, pieces))}); a "
            "verbalizer needs one token per word (pick another word, or mind a leading space)",
        )
    return int(ids[0])


def label_word_ids(cfg: TrainConfig, tokenizer: Any, words: Any) -> list[list[int]]:
    """``alignment.kwargs.label_words`` (per class a word or a list of words) as token ids."""
    key = "alignment.kwargs.label_words"
    if not isinstance(words, list) or len(words) != cfg.num_classes:
        raise cfg.error(key, f"expected a list of {cfg.num_classes} label words (one per class)")
    out = []
    for k, entry in enumerate(words):
        if isinstance(entry, list):
            if not entry:
                raise cfg.error(f"{key}.{k}", "no label words for this class")
            out.append(
                [single_token(cfg, tokenizer, f"{key}.{k}.{j}", w) for j, w in enumerate(entry)]
            )
        else:
            out.append([single_token(cfg, tokenizer, f"{key}.{k}", entry)])
    return out


def _batch(tokenizer: Any, texts: Any, cfg: TrainConfig, key: str) -> dict[str, torch.Tensor]:
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise cfg.error(key, "expected a non-empty list of prompts")
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def _demonstration_context(cfg: TrainConfig, tokenizer: Any, kwargs: dict[str, Any]) -> list[int]:
    from .manipulations.input_concatenative.demonstrations import Demonstration, PromptBuilder

    if "context" in kwargs:
        text = kwargs.pop("context")
        if not isinstance(text, str) or not text:
            raise cfg.error("manipulation.kwargs.context", "expected the context text")
        return _phrase_ids(tokenizer, text)
    examples = []
    for i, ex in enumerate(kwargs.pop("examples", []) or []):
        key = f"manipulation.kwargs.examples.{i}"
        if (
            not isinstance(ex, dict)
            or not {"input", "label"} <= set(ex)
            or set(ex) - {"input", "label", "rationale"}
        ):
            raise cfg.error(key, "expected a mapping with input, label and optional rationale")
        examples.append(Demonstration(str(ex["input"]), str(ex["label"]), ex.get("rationale")))
    fields = (
        "instruction",
        "input_template",
        "answer_template",
        "answer_prefix",
        "chain_of_thought",
        "cot_trigger",
        "separator",
    )
    settings = {k: kwargs.pop(k) for k in fields if k in kwargs}
    try:
        builder = PromptBuilder(demonstrations=tuple(examples), **settings)
        context = builder.context()
    except (KeyError, IndexError, ValueError) as exc:
        raise cfg.error("manipulation.kwargs", f"demonstrations: {exc}") from None
    if not context:
        raise cfg.error(
            "manipulation.kwargs", "demonstrations: give context, or instruction/examples"
        )
    return _phrase_ids(tokenizer, context)


def resolve_manipulation_kwargs(
    cfg: TrainConfig, tokenizer: Any, check_only: bool = False
) -> dict[str, Any]:
    """The manipulation's kwargs with their text turned into token ids (see the module doc);
    ``check_only`` skips tokenising the (possibly many) steering prompts."""
    kwargs = copy.deepcopy(cfg.manipulation.kwargs)
    name = cfg.manipulation.name
    key = "manipulation.kwargs"
    if isinstance(kwargs.get("placeholder_id"), str):
        kwargs["placeholder_id"] = _token_id(
            cfg, tokenizer, f"{key}.placeholder_id", kwargs["placeholder_id"]
        )
    if isinstance(kwargs.get("init_ids"), str):
        kwargs["init_ids"] = _phrase_ids(tokenizer, kwargs["init_ids"])
    if name == "demonstrations" and "context_ids" not in kwargs:
        kwargs["context_ids"] = _demonstration_context(cfg, tokenizer, kwargs)
    for side in ("positives", "negatives"):
        if side in kwargs and isinstance(kwargs[side], list) and not check_only:
            kwargs[side] = _batch(tokenizer, kwargs[side], cfg, f"{key}.{side}")
    if isinstance(kwargs.get("positions"), list):
        kwargs["positions"] = tuple(kwargs["positions"])
    return kwargs


def resolve_alignment_kwargs(
    cfg: TrainConfig, tokenizer: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(kwargs for the alignment's constructor, post-construction settings)``."""
    kwargs = copy.deepcopy(cfg.alignment.kwargs)
    after: dict[str, Any] = {"freeze": bool(kwargs.pop("freeze", False))}
    name = cfg.alignment.name
    if "label_words" in kwargs and tokenizer is not None:
        ids = label_word_ids(cfg, tokenizer, kwargs.pop("label_words"))
        if name == "class-embeddings":
            if any(len(group) != 1 for group in ids):
                raise cfg.error("alignment.kwargs.label_words", "one label word per class")
            after["label_ids"] = [group[0] for group in ids]
        else:
            kwargs["token_ids"] = ids
    if "class_texts" in kwargs:
        texts = kwargs.pop("class_texts")
        if (
            not isinstance(texts, list)
            or len(texts) != cfg.num_classes
            or not all(isinstance(t, str) for t in texts)
        ):
            raise cfg.error(
                "alignment.kwargs.class_texts", f"expected {cfg.num_classes} class descriptions"
            )
        after["class_texts"] = texts
        after["class_text_scale"] = float(kwargs.pop("class_text_scale", 1.0))
    return kwargs, after


@torch.no_grad()
def finish_alignment(
    cfg: TrainConfig, alignment: nn.Module, adapter: Any, tokenizer: Any, after: dict[str, Any]
) -> None:
    """Initialise an alignment from words or class texts, then freeze it if asked."""
    if "label_ids" in after:
        alignment.init_from_words(adapter, after["label_ids"])
    if "class_texts" in after:
        linear = getattr(alignment, "linear", None)
        if not isinstance(linear, nn.Linear):
            raise cfg.error("alignment.kwargs.class_texts", "needs the linear alignment")
        from .core import Manipulation

        batch = _batch(tokenizer, after["class_texts"], cfg, "alignment.kwargs.class_texts")
        device = adapter.device
        batch = {k: v.to(device) for k, v in batch.items()}
        was = adapter.training
        embeddings = adapter.run(batch, Manipulation(adapter)).float()  # (K, num_source)
        adapter.train(was)
        if embeddings.shape != linear.weight.shape:
            raise cfg.error(
                "alignment.kwargs.class_texts",
                f"class texts give {tuple(embeddings.shape)} weights for a "
                f"{tuple(linear.weight.shape)} head",
            )
        linear.weight.copy_(embeddings * after["class_text_scale"])
        if linear.bias is not None:
            linear.bias.zero_()
    if after.get("freeze"):
        alignment.requires_grad_(False)


def check_mask_template(cfg: TrainConfig, tokenizer: Any) -> None:
    """A masked LM read at its ``[MASK]`` needs a template that writes one."""
    if cfg.text.head != "masked-lm" or cfg.backbone != "transformers":
        return
    if getattr(tokenizer, "mask_token", None) is None:
        raise cfg.error("text.head", "masked-lm needs a tokenizer with a mask token")
    if cfg.data.template is None or "{mask}" not in cfg.data.template:
        raise cfg.error(
            "data.template" if cfg.data.template is not None else "data",
            "a masked LM is read at its mask token: write {mask} into data.template "
            '(e.g. "{text} It was {mask}.")',
        )
