"""``python -m reference.train`` on text and CLIP: every shipped text config end to end.

The configs name real hub models; here each runs on a tiny random model of the same kind
(a BERT masked LM, a GPT-2 causal LM, a bare BERT encoder, a CLIP) saved with a word-level
tokenizer to a temporary directory, so nothing is downloaded. The tokenizer's vocabulary is
built from the configs' own words, so their label words, templates and demonstrations are
checked against it exactly as against a real tokenizer.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from reference_support import (  # noqa: F401
    one_torch_thread,
    run_torchrun,
    tiny_clip_config,
    torchrun_failure,
)

from reference.checkpoint import load_checkpoint
from reference.config import ConfigError, load_config
from reference.evaluate import generate, majority
from reference.train import main

ROOT = Path(__file__).resolve().parents[1]
TEXT_CONFIGS = sorted(
    p for p in (ROOT / "reference" / "configs").glob("*.yaml") if load_config(p).backbone != "timm"
)
SPECIALS = ["[PAD]", "[UNK]", "[MASK]", "<s>", "</s>", "<unk>", "[unused1]"]
WORD = re.compile(r"\w+|[^\w\s]")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------ tiny models


def _words() -> list[str]:
    """Every word of the text configs, plus those of the test data."""
    text = " ".join(p.read_text(encoding="utf-8") for p in TEXT_CONFIGS).lower()
    text = text.replace("[unused1]", " ").replace("<unk>", " ")
    extra = {"the", "film", "was", "fine", "awful", *"123456789"}  # the test data's words
    words = set(WORD.findall(text)) | extra
    return sorted(words)


def _tokenizer(post_sos_eos: bool = False) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + _words())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    if post_sos_eos:  # CLIP's prompts: start-of-text first, end-of-text the last real token
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 3), ("</s>", 4)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        bos_token="<s>",
        eos_token="</s>",
    )  # "<unk>" and "[unused1]" are plain vocabulary entries, as BERT's [unusedN] are


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import transformers

    root = tmp_path_factory.mktemp("tiny-text-models")
    tok = _tokenizer()
    vocab = len(tok)
    small = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 256,
        "vocab_size": vocab,
    }
    built = {
        "masked-lm": transformers.BertForMaskedLM(transformers.BertConfig(**small)),
        "features": transformers.BertModel(transformers.BertConfig(**small)),
        "causal-lm": transformers.GPT2LMHeadModel(
            transformers.GPT2Config(
                vocab_size=vocab,
                n_embd=32,
                n_layer=2,
                n_head=2,
                n_positions=512,
                bos_token_id=3,
                eos_token_id=4,
            )
        ),
        "clip": transformers.CLIPModel(tiny_clip_config(vocab, bos_id=3, eos_id=4)),
    }
    paths = {}
    for name, model in built.items():
        torch.manual_seed(0)
        path = root / name
        model.save_pretrained(path)
        (_tokenizer(post_sos_eos=True) if name == "clip" else tok).save_pretrained(path)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("tiny-text-data")
    rows = [
        {"text": f"the film was {w}", "label": lab}
        for w, lab in [
            ("great", "positive"),
            ("awful", "negative"),
            ("fine", "positive"),
            ("terrible", "negative"),
        ]
        * 3
    ]
    maths = [
        {"question": f"tom has {a} apples and buys {b} more .", "answer": str(a + b)}
        for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]
    ]
    for name, items in (
        ("train", rows),
        ("val", rows[:6]),
        ("math_train", maths),
        ("math_val", maths),
    ):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    gen = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = root / "images" / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                pixels = (torch.rand(32, 32, 3, generator=gen) * 255).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return {"root": root}


def _overrides(path: Path, models: dict[str, Path], data: dict[str, Path], out: Path) -> list[str]:
    cfg = load_config(path)
    root = data["root"]
    kind = "clip" if cfg.backbone == "clip" else cfg.text.head
    over = [
        f"model={models[kind]}",
        f"output_dir={out}",
        "num_workers=0",
        "batch_size=4",
        f"epochs={min(cfg.epochs, 1)}",
        "amp=none",
        "device=cpu",
    ]
    if cfg.backbone == "clip":
        over += [
            f"data.train={root / 'images' / 'train'}",
            f"data.val={root / 'images' / 'val'}",
            "num_classes=2",
            "image_size=32",
        ]
    elif cfg.data.answer_field:
        over += [
            f"data.train={root / 'math_train.jsonl'}",
            f"data.val={root / 'math_val.jsonl'}",
            "evaluation.max_new_tokens=4",
        ]
    else:
        over += [f"data.train={root / 'train.jsonl'}", f"data.val={root / 'val.jsonl'}"]
    if cfg.manipulation.name == "prefix_tuning":
        over.append("manipulation.kwargs.projection_hidden=16")
    if cfg.manipulation.name == "steering_vector":
        over.append("manipulation.kwargs.layer=1")
    return over


# ------------------------------------------------------------------------------ every config


@pytest.mark.parametrize("path", TEXT_CONFIGS, ids=[p.stem for p in TEXT_CONFIGS])
def test_text_config_runs_end_to_end(
    path: Path,
    models: dict[str, Path],
    data: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each text config trains (or, epochs: 0, evaluates) and writes metrics and checkpoints."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "out"
    args = ["--config", str(path), "--override", *_overrides(path, models, data, out)]
    assert main(args) == 0
    cfg = load_config(path)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    assert 0.0 <= rows[0]["val_acc"] <= 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["epoch"] == rows[0]["epoch"] == (0 if cfg.epochs == 0 else 1)
    state = load_checkpoint(out / "last.pt")
    assert state["trainable"] and all(
        k.startswith(("manipulation.", "alignment.")) for k in state["trainable"]
    )
    if cfg.epochs == 0:  # evaluate only: no optimiser, no training metrics
        assert state["optimizer"] is None and rows[0]["train_loss"] is None
    else:
        assert state["optimizer"] is not None and rows[0]["train_loss"] > 0
    if cfg.evaluation.mode == "generate":
        predictions = (out / "predictions.jsonl").read_text().splitlines()
        assert len(predictions) == 4
        first = json.loads(predictions[0])
        assert len(first["generations"]) == cfg.evaluation.samples


def test_every_text_config_names_its_paper() -> None:
    papers = {
        p["id"] for p in yaml.safe_load((ROOT / "data" / "papers.yaml").read_text())["papers"]
    }
    for path in TEXT_CONFIGS:
        match = re.search(r"^# Paper: (\S+)", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert match, f"{path.name}: no '# Paper: <id>' line"
        assert match.group(1) in papers or match.group(1) == "none", path.name


def test_text_configs_cover_the_text_methods() -> None:
    cfgs = [load_config(p) for p in TEXT_CONFIGS]
    names = {c.manipulation.name for c in cfgs}
    assert {
        "soft_prompt",
        "prefix_tuning",
        "p_tuning",
        "deep_prompt",
        "warp",
        "vocabulary_prompt",
        "loreft",
        "steering_vector",
        "demonstrations",
        "coop",
        "cocoop",
    } <= names
    heads = {c.manipulation.name: set() for c in cfgs}
    for c in cfgs:
        heads[c.manipulation.name].add(c.text.head)
    assert {"masked-lm", "causal-lm"} <= heads["soft_prompt"]
    assert {c.evaluation.mode for c in cfgs} == {"logits", "generate"}
    assert any(c.evaluation.samples > 1 for c in cfgs)  # self-consistency


# ------------------------------------------------------------------------------ errors


def _write_config(tmp_path: Path, models: dict[str, Path], data_lines: str, **changes: Any) -> Path:
    (tmp_path / "train.jsonl").write_text(data_lines)
    body = textwrap.dedent(f"""\
        backbone: transformers
        model: {models["masked-lm"]}
        pretrained: true
        text: {{head: masked-lm}}
        num_classes: 2
        manipulation: {{name: soft_prompt, kwargs: {{length: 2}}}}
        alignment:
          name: verbalizer
          kwargs:
            label_words:
              - terrible
              - {changes.get("word", "great")}
        data:
          type: jsonl
          train: {tmp_path / "train.jsonl"}
          val_fraction: 0.5
          classes: [negative, positive]
          template: "{{text}} it was {{mask}} ."
        epochs: 1
        batch_size: 2
        num_workers: 0
        device: cpu
        output_dir: {tmp_path / "out"}
        """)
    path = tmp_path / "cfg.yaml"
    path.write_text(body)
    return path


GOOD = '{"text": "the film was great", "label": "positive"}\n' * 2


def test_multi_token_label_word_is_an_error_at_its_line(
    tmp_path: Path, models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(tmp_path, models, GOOD, word="very great")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}:12:9: alignment.kwargs.label_words.1: label word 'very great' is 2 tokens" in err
    )
    assert "Loading weights" not in err  # found before the model was loaded
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (GOOD + '{"text": "the film", "label": "positive"\n', "train.jsonl:3: invalid JSON"),
        (
            GOOD + '{"text": "the film", "label": "neutral"}\n',
            "train.jsonl:3: label: unknown label 'neutral'; classes are negative, positive",
        ),
        (
            GOOD + '\n{"label": "positive"}\n',
            "train.jsonl:4: data.template names field 'text', which the record lacks",
        ),
        (GOOD + '["the film", 1]\n', "train.jsonl:3: expected a JSON object, got list"),
    ],
    ids=["json", "label", "field", "not-object"],
)
def test_malformed_record_names_file_and_line(
    tmp_path: Path,
    models: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    lines: str,
    message: str,
) -> None:
    path = _write_config(tmp_path, models, lines)
    assert main(["--config", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_placeholder_tokens_stay_whole_and_unknown_ones_are_errors(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    from reference import text_setup
    from reference.text_data import load_tokenizer

    path = _write_config(tmp_path, models, GOOD)
    tok = load_tokenizer(str(models["masked-lm"]))
    assert "[unused1]" not in tok.tokenize("the [unused1] film")  # split at its brackets
    cfg = load_config(path, ["manipulation.kwargs.placeholder_id='[unused1]'"])
    text_setup.prepare_tokenizer(cfg, tok)
    assert tok.tokenize("the [unused1] film") == ["the", "[unused1]", "film"]
    cfg = load_config(path, ["manipulation.kwargs.placeholder_id='[unused9]'"])
    with pytest.raises(ConfigError, match=r"placeholder_id: '\[unused9\]' is not a token"):
        text_setup.prepare_tokenizer(cfg, tok)


def test_csv_records_with_a_sentence_pair(tmp_path: Path, models: dict[str, Path]) -> None:
    from reference.config import DataConfig
    from reference.data import DataError
    from reference.text_data import Collate, TextDataset, load_tokenizer

    tok = load_tokenizer(str(models["features"]))
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(
        'premise,hypothesis,label\n"the film, great",the film was fine,1\nthe film,awful,0\n'
    )
    cfg = DataConfig(type="csv", train=str(csv_path), text_field="premise", pair_field="hypothesis")
    ds = TextDataset(str(csv_path), cfg, tok, num_classes=2)
    assert ds.targets == [1, 0]
    first = tok.convert_ids_to_tokens(ds.input_ids[0])
    assert first == ["the", "film", ",", "great", "the", "film", "was", "fine"]
    batch, labels = Collate(tok.pad_token_id)([ds[0], ds[1]])
    assert batch["attention_mask"].tolist() == [[1] * 8, [1, 1, 1, 0, 0, 0, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [tok.pad_token_id] * 5
    assert labels.tolist() == [1, 0]
    csv_path.write_text("premise,hypothesis,label\nthe film,awful\n")
    with pytest.raises(DataError, match=r"pairs\.csv:2: 2 columns, the header has 3"):
        TextDataset(str(csv_path), cfg, tok, num_classes=2)


def test_config_checks_text_settings(tmp_path: Path, models: dict[str, Path]) -> None:
    path = _write_config(tmp_path, models, GOOD)
    with pytest.raises(ConfigError, match="generate needs a causal-lm"):
        load_config(path, ["evaluation.mode=generate", "epochs=0"])
    with pytest.raises(ConfigError, match="data.classes: lists 2 classes but num_classes is 3"):
        load_config(path, ["num_classes=3"])
    with pytest.raises(ConfigError, match="jsonl data needs backbone: transformers"):
        load_config(path, ["backbone=timm"])


# ------------------------------------------------------------------------------ generation


class _Scripted(torch.nn.Module):
    """Emits a fixed token script, one token per step, whatever the prompt: the step is read from
    how many tokens the last real one is past the prompt (the mask's length)."""

    def __init__(self, script: list[int], vocab: int, prompt_len: int) -> None:
        super().__init__()
        self.script, self.vocab, self.prompt_len = script, vocab, prompt_len

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        steps = x["attention_mask"].sum(1) - self.prompt_len
        logits = torch.zeros(len(steps), self.vocab)
        for i, s in enumerate(steps.tolist()):
            logits[i, self.script[min(s, len(self.script) - 1)]] = 10.0
        return logits


def test_generation_extends_each_sequence_and_stops_at_eos() -> None:
    batch = {
        "input_ids": torch.tensor([[5, 6, 7], [5, 6, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
    }
    model = _Scripted([8, 9, 2, 9], vocab=10, prompt_len=2)  # eos = 2
    out = generate(model, batch, max_new_tokens=6, eos_id=2, pad_id=0)
    # Row 0's prompt has 3 tokens: it is one step ahead of row 1 in the script.
    assert out == [[9, 2], [8, 9, 2]]


def test_majority_vote_breaks_ties_by_first_answer() -> None:
    assert majority(["5", "7", "7", None]) == "7"
    assert majority(["5", "7", None]) == "5"
    assert majority([None, None]) is None


# ------------------------------------------------------------------------------ DDP


@pytest.mark.slow
def test_ddp_two_cpu_ranks_agree_on_text(
    tmp_path: Path, models: dict[str, Path], data: dict[str, Path]
) -> None:
    """torchrun, 2 processes, gloo, a soft prompt on the tiny causal LM: both ranks end equal."""
    path = ROOT / "reference" / "configs" / "prompt_tuning_clm.yaml"
    out = tmp_path / "out"
    proc = run_torchrun(["--config", str(path), "--override", *_overrides(path, models, data, out)])
    assert proc.returncode == 0, torchrun_failure(proc)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_agree"]
    assert len(summary["rank_checksums"]) == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


# ------------------------------------------------------------------------------ the experiment


def test_papers_experiment_records_valid_result_rows(
    tmp_path: Path, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measured text result's script, on the tiny encoder: the split is the fixed hash split
    of the real papers, every method runs, and the rows it records validate as results."""
    from reprogrammability.validate import load

    from reference.experiments import papers_text

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = tmp_path / "db" / "results.yaml"
    record.parent.mkdir()
    # --record validates the rows beside the real papers and the datasets plus the experiment's.
    shutil.copy(ROOT / "data" / "papers.yaml", record.parent / "papers.yaml")
    datasets = (ROOT / "data" / "datasets.yaml").read_text(encoding="utf-8")
    if f"- id: {papers_text.DATASET_ID}\n" not in datasets:  # the entry the rows need
        datasets = datasets.rstrip("\n") + "\n\n" + papers_text.DATASET_ENTRY
    (record.parent / "datasets.yaml").write_text(datasets)
    papers = yaml.safe_load((ROOT / "data" / "papers.yaml").read_text(encoding="utf-8"))["papers"]
    subset = tmp_path / "papers.yaml"  # every fourth paper keeps the test short
    subset.write_text(yaml.safe_dump({"papers": papers[::4]}), encoding="utf-8")
    args = [
        "--model",
        str(models["features"]),
        "--seeds",
        "0",
        "1",
        "--epochs",
        "1",
        "--max-length",
        "16",
        "--out",
        str(tmp_path / "run"),
        "--papers",
        str(subset),
        "--record",
        str(record),
    ]
    assert papers_text.main(args) == 0
    report = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["zero-shot"]["seeds"] == 1 and rows["zero-shot"]["trainable_params"] == 0
    assert rows["linear-probe"]["seeds"] == 2
    assert rows["soft-prompt-fixed-head"]["trainable_params"] == 8 * 32  # the prompt only
    test_ids = [
        json.loads(line)["id"]
        for line in (tmp_path / "run" / "data" / "test.jsonl").read_text().splitlines()
    ]
    assert test_ids and all(papers_text.in_test_set(i) for i in test_ids)
    assert sum(report["counts"]["test"].values()) == len(test_ids)
    # The rows validate against the real papers and the datasets plus the experiment's entry.
    assert load(record.parent / "datasets.yaml").problems == []
    assert load(record).problems == []
    recorded = yaml.safe_load(record.read_text())["results"]
    assert [(r["method"], r["seeds"]) for r in recorded] == [("Soft prompt + class embeddings", 2)]
    assert "linear probe" in recorded[0]["note"] and "zero-shot" in recorded[0]["note"]
    assert "--record" not in recorded[0]["source"]["command"]
