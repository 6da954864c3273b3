"""Data-parallel plumbing for ``torchrun``: process group, samplers, reductions, statistics.

Reprogramming trains only the manipulation and alignment, so DDP's gradient all-reduce moves a
few kilobytes per step and ``find_unused_parameters=False`` holds (the frozen backbone has no
parameters that require grad, so DDP never waits for them). Two things need care beyond DDP:

* metrics: each rank sees a shard, so sums (loss·n, correct, n) are all-reduced before printing;
* statistical label mappings (ILM/BLM): each rank's ``observe`` would see only its shard and the
  ranks' mappings would drift apart. :func:`gather` collects every rank's source logits and
  labels, so every rank observes the global batch and ``refresh`` gives the same mapping
  everywhere (which DDP also needs: the mapping is a buffer of the wrapped module).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``; ``is_main`` writes files."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: Print progress lines (rank 0 only); experiments running many short trainings turn it off.
    verbose: bool = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` → this rank's GPU when CUDA is available, else CPU; otherwise as given."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return device


def init_distributed(device: str = "auto", backend: str | None = None) -> DistInfo:
    """Join the process group described by ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (torchrun).

    NCCL on GPUs, gloo on CPU. A single process (no ``WORLD_SIZE``) gets a ``DistInfo`` of one.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        chosen = backend or ("nccl" if dev.type == "cuda" else "gloo")
        kwargs = {"device_id": dev} if chosen == "nccl" else {}
        dist.init_process_group(
            backend=chosen,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(minutes=30),
            **kwargs,
        )
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_rank(code: int) -> None:
    """End a torchrun rank with ``code`` without running C++ static destructors.

    With gloo, a rank intermittently aborts at interpreter exit ("terminate called without an
    active exception", SIGABRT, no Python frame left), after every file is written and the
    process group is destroyed; torchrun then reports the whole run as failed. Everything the
    run produces is closed by then, so the rank flushes its streams and leaves with ``os._exit``.
    A single process exits normally.
    """
    if _env_int("WORLD_SIZE", 1) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sums(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Sum scalar metrics over ranks (float64, so counts stay exact)."""
    if not info.enabled:
        return dict(values)
    keys = sorted(values)
    backend_device = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=backend_device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def gather(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``tensor`` (first dim may differ per rank) from every rank, in rank order.

    Used for the statistics of label mappings, never for anything that needs gradients.
    """
    if not info.enabled:
        return tensor
    tensor = tensor.detach().contiguous()
    size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    longest = max(counts)
    if tensor.shape[0] < longest:  # all_gather needs equal shapes: pad, then trim
        pad = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, pad])
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    dist.all_gather(parts, tensor)
    return torch.cat([p[:n] for p, n in zip(parts, counts)])


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's ``obj`` on every rank (e.g. the output directory's resume state)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
