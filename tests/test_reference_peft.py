"""Our prompt tuning, prefix tuning and P-tuning against Hugging Face PEFT's.

For each method the PEFT model is built on a tiny random ``transformers`` model, its prompt
parameters are trained for a few steps (so they are not at their initial values), and then copied
one for one into ours (key sets and shapes asserted). Both must then give the same logits, to 1e-5,
and the same gradients for the same loss.

Semantics compared (and where PEFT sets them):

* prompt tuning (``soft_prompt``) and P-tuning (``p_tuning``, prepended, the default): ``P``
  vectors in front of the input embeddings, attention mask extended, positions from 0;
* prefix tuning (``prefix_tuning``): the prefix as the model's key/value cache, real tokens at
  positions ``P``…, with and without the reparametrisation MLP (PEFT's ``prefix_projection``).

Not compared: prefix tuning on BERT classifiers, which PEFT 0.21 refuses under transformers 5
("Model does not support past key values"); ours is pinned against ``past_key_values`` directly in
``test_reference_prompt_methods.py``. P-tuning's placeholder templates have no PEFT counterpart.
"""

from __future__ import annotations

import copy
import pytest
import reference_support as support
import torch
from torch import nn

from reference import Reprogrammed, adapt, registry
from reference.peft_interop import load_peft_prompt, ours_key, peft_config

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.usefixtures("one_torch_thread")
one_torch_thread = support.one_torch_thread

P = 3  # virtual tokens
NUM_LABELS = 3


def tiny_classifier(kind: str) -> nn.Module:
    """A 2-layer, width-32 BERT or RoBERTa sequence classifier."""
    torch.manual_seed(0)
    common = dict(
        vocab_size=support.VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=NUM_LABELS, initializer_range=0.2,
    )
    if kind == "bert":
        return transformers.BertForSequenceClassification(transformers.BertConfig(**common)).eval()
    config = transformers.RobertaConfig(**common, pad_token_id=1, max_position_embeddings=64)
    return transformers.RobertaForSequenceClassification(config).eval()


def backbone(name: str) -> tuple[nn.Module, str]:
    if name == "gpt2":
        return support.tiny_gpt2(init_std=0.2), "CAUSAL_LM"
    return tiny_classifier(name), "SEQ_CLS"


#: case -> (our registry name, our settings); PEFT's config is derived from ours.
METHODS: dict[str, tuple[str, dict]] = {
    "prompt_tuning": ("soft_prompt", {"length": P}),
    "p_tuning_mlp": ("p_tuning", {"length": P, "encoder": "mlp", "hidden": 16}),
    "p_tuning_lstm": ("p_tuning", {"length": P, "encoder": "lstm", "hidden": 16, "lstm_layers": 2}),
    "prefix_tuning": ("prefix_tuning", {"length": P, "projection_hidden": None}),
    "prefix_tuning_mlp": ("prefix_tuning", {"length": P, "projection_hidden": 16}),
}

CASES = [(m, "gpt2") for m in METHODS] + [
    (m, b) for m in ("prompt_tuning", "p_tuning_mlp", "p_tuning_lstm") for b in ("bert", "roberta")
]


def inputs(n: int = 4) -> dict[str, torch.Tensor]:
    return support.token_batch("gpt2", n, seq_len=7)


def answer_logits(out: torch.Tensor, mask: torch.Tensor, offset: int) -> torch.Tensor:
    """A causal LM's logits at the last real token (``offset`` inserted positions in front)."""
    if out.dim() == 2:  # a classifier
        return out
    return out[torch.arange(len(mask)), offset + mask.sum(1) - 1]


@pytest.mark.parametrize(("method", "name"), CASES, ids=[f"{m}-{b}" for m, b in CASES])
def test_same_parameters_give_peft_logits_and_gradients(method: str, name: str):
    ours_name, kwargs = METHODS[method]
    model, task = backbone(name)
    x = inputs()
    labels = torch.tensor([0, 1, 2, 1])
    adapter = adapt(model)
    manipulation = registry.create_manipulation(ours_name, adapter, **kwargs)

    torch.manual_seed(1)
    theirs = peft.get_peft_model(copy.deepcopy(model), peft_config(manipulation, task)).eval()
    encoder = theirs.prompt_encoder["default"]
    optimiser = torch.optim.Adam(encoder.parameters(), lr=0.05)
    inserted = 0 if method.startswith("prefix") else P  # PEFT's logits include prompt positions

    def peft_answer() -> torch.Tensor:
        out = theirs(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).logits
        return answer_logits(out, x["attention_mask"], inserted)

    for _ in range(2):  # train PEFT's prompt a little, so the copied values are not the init
        optimiser.zero_grad()
        nn.functional.cross_entropy(peft_answer()[:, :NUM_LABELS], labels).backward()
        optimiser.step()
    optimiser.zero_grad()

    load_peft_prompt(manipulation, encoder)  # asserts key sets and shapes
    n = adapter.num_source
    identity = registry.create_alignment("identity", n, n)
    rp = Reprogrammed(model, manipulation, identity, adapter=adapter)
    rp.train()
    theirs.train()  # no dropout in the prompt encoders; the base models stay in eval mode
    theirs.base_model.eval()

    reference = peft_answer()
    ours = rp(x)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)

    nn.functional.cross_entropy(reference[:, :NUM_LABELS], labels).backward()
    nn.functional.cross_entropy(ours[:, :NUM_LABELS], labels).backward()
    mine = dict(manipulation.named_parameters())
    for key, p in encoder.named_parameters():
        torch.testing.assert_close(
            mine[ours_key(manipulation, key)].grad, p.grad, atol=1e-5, rtol=1e-4, msg=key
        )


def test_load_peft_prompt_refuses_a_mismatch():
    adapter = adapt(support.tiny_gpt2(init_std=0.2))
    soft = registry.create_manipulation("soft_prompt", adapter, length=P)
    longer = peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P + 1)
    theirs = peft.get_peft_model(copy.deepcopy(adapter.model), longer)
    with pytest.raises(ValueError, match=r"prompts: PEFT's shape \(4, 32\) != ours \(3, 32\)"):
        load_peft_prompt(soft, theirs.prompt_encoder["default"])
    prefix = registry.create_manipulation("prefix_tuning", adapter, length=P)
    with pytest.raises(ValueError, match="missing .*prefix.network.transform"):
        load_peft_prompt(prefix, theirs.prompt_encoder["default"])
    with pytest.raises(TypeError, match="DeepPrompt has no PEFT counterpart"):
        peft_config(registry.create_manipulation("deep_prompt", adapter), "CAUSAL_LM")
