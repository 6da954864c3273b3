"""Our prompt tuning, P-tuning and prefix tuning side by side with Hugging Face PEFT's.

* :func:`peft_config` — the PEFT config that computes what one of our manipulations computes
  (``soft_prompt`` → ``PromptTuningConfig``, ``p_tuning`` → ``PromptEncoderConfig``,
  ``prefix_tuning`` → ``PrefixTuningConfig``);
* :func:`load_peft_prompt` — copy a PEFT prompt encoder's (trained) state into ours, key for key
  and shape for shape, so a prompt trained with PEFT runs here and vice versa.

The layouts agree by construction: a soft prompt is PEFT's ``embedding.weight``; P-tuning's encoder
has PEFT's ``embedding``/``lstm_head``/``mlp_head`` under ``prompts.network``; a prefix is PEFT's
``(P, layers · 2 · D)`` matrix (``prefix.merged``, or ``prefix.network`` with the MLP).
``tests/test_reference_peft.py`` checks equal logits and gradients; ``benchmarks/bench_peft.py``
times both. ``peft`` is imported only here, and only when called.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .core import Manipulation


def _kind(manipulation: Manipulation) -> str:
    from .manipulations.embedding_concatenative import PTuning, SoftPrompt
    from .manipulations.hidden_concatenative import PrefixTuning

    for cls, kind in ((SoftPrompt, "prompt"), (PTuning, "p_tuning"), (PrefixTuning, "prefix")):
        if isinstance(manipulation, cls):
            return kind
    raise TypeError(f"{type(manipulation).__name__} has no PEFT counterpart")


def peft_config(manipulation: Manipulation, task_type: str) -> Any:
    """The PEFT config whose model computes what ``manipulation`` computes (``task_type``:
    PEFT's, e.g. ``"CAUSAL_LM"`` or ``"SEQ_CLS"``)."""
    import peft

    kind = _kind(manipulation)
    if kind == "prompt":
        return peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=manipulation.length)
    config = manipulation.config
    if kind == "p_tuning":
        if config.placeholder_id is not None:
            raise ValueError(
                "p_tuning with placeholder slots has no PEFT counterpart (PEFT prepends)"
            )
        dim = manipulation.adapter.embed_dim
        hidden = config.hidden or (dim // 2 if config.encoder == "lstm" else dim)
        return peft.PromptEncoderConfig(
            task_type=task_type,
            num_virtual_tokens=config.length,
            encoder_reparameterization_type=config.encoder.upper(),
            encoder_hidden_size=hidden,
            encoder_num_layers=config.lstm_layers,
        )
    projection = config.projection_hidden is not None
    return peft.PrefixTuningConfig(
        task_type=task_type,
        num_virtual_tokens=config.length,
        prefix_projection=projection,
        **({"encoder_hidden_size": config.projection_hidden} if projection else {}),
    )


def _renames(manipulation: Manipulation) -> dict[str, str]:
    """{PEFT prompt-encoder key prefix: our key prefix}."""
    kind = _kind(manipulation)
    if kind == "prompt":
        return {"embedding.weight": "prompts"}
    if kind == "p_tuning":
        ours = "prompts.network."
        return {"embedding.weight": ours + "embedding", "lstm_head.": ours + "lstm.",
                "mlp_head.": ours + "mlp."}
    if manipulation.prefix.merged is not None:  # a prefix trained directly
        return {"embedding.weight": "prefix.merged"}
    ours = "prefix.network."
    return {"embedding.weight": ours + "embedding", "transform.": ours + "transform."}


def ours_key(manipulation: Manipulation, peft_key: str) -> str:
    """Our parameter name for a key of PEFT's prompt encoder."""
    hits = [p for p in _renames(manipulation) if peft_key.startswith(p)]
    if len(hits) != 1:
        raise KeyError(f"PEFT key {peft_key!r} has no counterpart in {type(manipulation).__name__}")
    return _renames(manipulation)[hits[0]] + peft_key[len(hits[0]) :]


def load_peft_prompt(manipulation: Manipulation, encoder: nn.Module) -> None:
    """Copy PEFT's prompt encoder (``peft_model.prompt_encoder[adapter_name]``) into ours."""
    state = {ours_key(manipulation, k): v for k, v in encoder.state_dict().items()}
    mine = manipulation.state_dict()
    missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
    if missing or extra:
        raise ValueError(f"PEFT state does not fit: missing {missing}, unexpected {extra}")
    for key, value in state.items():
        if value.shape != mine[key].shape:
            raise ValueError(
                f"{key}: PEFT's shape {tuple(value.shape)} != ours {tuple(mine[key].shape)}"
            )
    manipulation.load_state_dict(state, strict=True)
