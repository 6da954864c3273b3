"""Target-task datasets for the trainer: image folders or a ``.pt`` file of tensors.

Images reach the model in ``[0, 1]`` at ``image_size`` × ``image_size``: the input-space
manipulations own the frame, the resizing into the source resolution and the source model's
normalisation, so the data pipeline must not normalise (it would be done twice).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from .config import DataConfig


class DataError(ValueError):
    """Unreadable or malformed data; the message names the file and the field."""


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    num_classes: int


def load_tensor_file(path: str | Path, image_size: int, channels: int = 3) -> TensorDataset:
    """Read ``{"x": float [N,C,H,W] in [0,1], "y": long [N]}`` and resize to ``image_size``.

    Resizing happens once here (not per batch) because the whole set is already in memory.
    ``x`` may instead be a series, ``[N, T]`` or ``[N, C, T]``, for manipulations that map raw
    non-image inputs into the model (Time-LLM's reprogramming layer); it is passed on unchanged.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot load tensors (corrupt, or not plain tensors): {first}") from None
    if not isinstance(blob, dict) or "x" not in blob or "y" not in blob:
        raise DataError(f'{path}: expected a dict with keys "x" and "y"')
    x, y = blob["x"], blob["y"]
    if not torch.is_tensor(x) or x.ndim not in (2, 3, 4) or not x.is_floating_point():
        raise DataError(
            f"{path}: x: expected a float tensor [N, C, H, W] (images) or [N, T] / [N, C, T] "
            f"(series), got {_describe(x)}"
        )
    if not torch.is_tensor(y) or y.ndim != 1 or y.dtype != torch.long:
        raise DataError(f"{path}: y: expected a long tensor [N], got {_describe(y)}")
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    if len(y) and y.min() < 0:
        raise DataError(f"{path}: y: labels must be non-negative")
    if x.ndim < 4:  # a series for cross-modal manipulations (e.g. reprogramming_layer): as is
        return TensorDataset(x.float().contiguous(), y)
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DataError(f"{path}: x: values must lie in [0, 1] (got {x.min():.3g}..{x.max():.3g})")
    if x.shape[1] != channels and not (x.shape[1] == 1 and channels == 3):
        raise DataError(f"{path}: x: has {x.shape[1]} channels, config asks for {channels}")
    x = x.float()
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
        x = x.clamp_(0, 1)
    if x.shape[1] != channels:  # grey -> RGB, after resizing so only one channel is resized
        x = x.expand(-1, 3, -1, -1)
    return TensorDataset(x.contiguous(), y)


def _describe(t: object) -> str:
    if torch.is_tensor(t):
        return f"{t.dtype} tensor of shape {tuple(t.shape)}"
    return type(t).__name__


def _image_folder(root: str, image_size: int, channels: int) -> Dataset:
    from torchvision import datasets, transforms

    if not Path(root).is_dir():
        raise DataError(f"{root}: not a directory (data.type is imagefolder)")
    steps = [transforms.Resize((image_size, image_size))]
    if channels == 1:
        steps.append(transforms.Grayscale(1))
    steps.append(transforms.ToTensor())  # [0, 1]; normalisation belongs to the manipulation
    try:
        return datasets.ImageFolder(root, transform=transforms.Compose(steps))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"{root}: {exc}") from None


def _labels(ds: Dataset) -> torch.Tensor:
    if isinstance(ds, TensorDataset):
        return ds.tensors[1]
    if isinstance(ds, Subset):
        return _labels(ds.dataset)[torch.as_tensor(ds.indices)]
    targets = getattr(ds, "targets", None)
    if targets is None:
        raise DataError("dataset exposes no labels")
    return torch.as_tensor(targets)


def build_datasets(cfg: DataConfig, image_size: int, num_classes: int, seed: int = 0) -> Splits:
    """Train/val datasets for a config; labels are checked against ``num_classes``."""
    if cfg.type == "tensors":
        train: Dataset = load_tensor_file(cfg.train, image_size, cfg.channels)
        val: Dataset | None = (
            load_tensor_file(cfg.val, image_size, cfg.channels) if cfg.val else None
        )
    else:
        train = _image_folder(cfg.train, image_size, cfg.channels)
        val = _image_folder(cfg.val, image_size, cfg.channels) if cfg.val else None
        if val is not None and val.classes != train.classes:  # type: ignore[attr-defined]
            raise DataError(f"{cfg.val}: class folders differ from {cfg.train}")
    if val is None:
        if cfg.val_fraction <= 0:
            raise DataError("data: give data.val or a data.val_fraction > 0 for validation")
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(train), generator=gen).tolist()  # type: ignore[arg-type]
        n_val = max(1, round(cfg.val_fraction * len(order)))
        val, train = Subset(train, order[:n_val]), Subset(train, order[n_val:])
    for name, ds in (("train", train), ("val", val)):
        labels = _labels(ds)
        if len(labels) == 0:
            raise DataError(f"data.{name}: no samples")
        if int(labels.max()) >= num_classes:
            raise DataError(
                f"data.{name}: label {int(labels.max())} does not fit num_classes={num_classes}"
            )
    return Splits(train=train, val=val, num_classes=num_classes)
