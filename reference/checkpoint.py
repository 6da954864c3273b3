"""Checkpoints that hold only what reprogramming trains.

The backbone is frozen and can be rebuilt from its timm name (and pretrained weights), so a
checkpoint stores the manipulation and alignment (``Reprogrammed.trainable_state_dict()``, label
mappings included), the optimizer/scheduler/scaler state to resume, and the config. For a
ResNet-50 this is kilobytes to a few megabytes instead of ~100 MB: the point of reprogramming.
Files are written through a temporary file and ``os.replace`` so a crash never leaves a
half-written checkpoint behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from reprogrammability.atomic import atomic_open

FORMAT = "reference-trainable/1"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically ``torch.save`` ``payload`` (which must hold ``"trainable"``) to ``path``."""
    if "trainable" not in payload:
        raise ValueError("a checkpoint must hold the 'trainable' state dict")
    with atomic_open(path) as fh:
        torch.save({"format": FORMAT, **payload}, fh)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors onto the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a reference.train checkpoint (format {FORMAT!r} expected)")
    return blob
