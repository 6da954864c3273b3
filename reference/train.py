"""Train a reprogrammed model: ``python -m reference.train --config reference/configs/<m>.yaml``.

The loop is the usual one with four reprogramming-specific twists:

1. only the manipulation and the alignment are optimised; the timm backbone is frozen and stays
   in eval mode (``core.Reprogrammed``), so checkpoints hold only those parameters;
2. statistical label mappings are driven as the papers do: ``initialize`` from one pass over the
   training data before training (FLM), ``observe`` on the logits of every training forward pass,
   ``refresh`` at the end of each epoch (ILM, BLM) — no extra data pass per epoch;
3. under ``torchrun`` the module is wrapped in DDP with ``find_unused_parameters=False`` (every
   trainable parameter is used each step) and the label-mapping statistics are gathered from all
   ranks before they are observed, so every rank holds the same mapping;
4. AMP (bf16, or fp16 with a GradScaler) only runs on CUDA; on CPU the config value is ignored
   with a notice, because CPU autocast would only slow these small models down.

Text runs (``backbone: transformers``, ``data.type: jsonl|csv``) read records through
``text_data`` and turn the config's words into token ids through ``text_setup``; ``evaluate``
scores generated answers. ``epochs: 0`` evaluates without an optimiser — the mode of fixed
methods (demonstrations, chain-of-thought prompts, zero-shot heads) — and still writes the
metrics line, the summary and the (parameter-free) checkpoint.

Outputs (rank 0 only) in ``output_dir``: ``config.json``, ``metrics.jsonl`` (one line per epoch),
``last.pt``/``best.pt`` (trainable state, optimizer, scheduler) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, load_config
from .core import Manipulation, Reprogrammed
from .data import DataError, build_datasets
from .distributed import (
    DistInfo,
    all_reduce_sums,
    barrier,
    broadcast_object,
    cleanup,
    exit_rank,
    gather,
    init_distributed,
    resolve_device,
)
from .text_data import Collate, build_text_splits, pad_id_of, to_device

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def build_model(cfg: TrainConfig) -> nn.Module:
    """The frozen source model: timm (``pretrained: true`` downloads its weights), or a
    ``transformers`` language model or CLIP (a local directory, or a hub name)."""
    if cfg.backbone != "timm":
        from .text_setup import load_clip_model, load_text_model

        return load_text_model(cfg) if cfg.backbone == "transformers" else load_clip_model(cfg)
    import timm

    if not timm.is_model(cfg.model):
        raise cfg.error("model", f"unknown timm model {cfg.model!r}")
    try:
        model = timm.create_model(cfg.model, pretrained=cfg.pretrained, **cfg.model_kwargs)
    except TypeError as exc:
        raise cfg.error("model_kwargs", str(exc)) from None
    if cfg.weights is not None:  # a source model trained elsewhere (a state dict file)
        try:
            state = torch.load(cfg.weights, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise cfg.error("weights", f"{cfg.weights}: file not found") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise cfg.error("weights", f"{cfg.weights} does not fit {cfg.model}: {first}") from None
    return model


def build_reprogrammed(
    cfg: TrainConfig, model: nn.Module, tokenizer: Any = None, class_prompts: Any = None
) -> Reprogrammed:
    """``O_ω ∘ f ∘ I`` from the registry names and kwargs in the config.

    The three pieces are created one by one (rather than with ``registry.build``) so that an
    unknown name or a bad keyword argument is reported against the config line that set it.
    Text backbones get their kwargs' words as token ids (``text_setup``); CLIP gets its class
    prompts.
    """
    from . import registry
    from .backbones import adapt

    adapter_kwargs = dict(cfg.adapter_kwargs)
    manipulation_kwargs, alignment_kwargs, after = cfg.manipulation.kwargs, cfg.alignment.kwargs, {}
    if cfg.backbone != "timm":
        from . import text_setup

        if cfg.backbone == "transformers":
            adapter_kwargs = text_setup.adapter_kwargs(cfg, tokenizer)
        else:
            adapter_kwargs["class_prompts"] = class_prompts
        manipulation_kwargs = text_setup.resolve_manipulation_kwargs(cfg, tokenizer)
        alignment_kwargs, after = text_setup.resolve_alignment_kwargs(cfg, tokenizer)
    try:
        adapter = adapt(model, **adapter_kwargs)
    except (TypeError, ValueError) as exc:
        raise cfg.error("adapter_kwargs", str(exc)) from None
    num_target = cfg.num_classes
    if cfg.evaluation.mode == "generate":  # the answer is read from text: all vocabulary logits
        if cfg.alignment.name != "identity":
            raise cfg.error("alignment.name", "generate reads the model's own tokens: use identity")
        num_target = adapter.num_source
    if cfg.manipulation.name == "none":
        if cfg.manipulation.kwargs:
            raise cfg.error("manipulation.kwargs", "manipulation 'none' takes no arguments")
        manipulation: Manipulation = PassThrough(adapter)
    pieces = []
    for key, component, create in (
        (
            "manipulation",
            cfg.manipulation,
            lambda c: registry.create_manipulation(c.name, adapter, **manipulation_kwargs),
        ),
        (
            "alignment",
            cfg.alignment,
            lambda c: registry.create_alignment(
                c.name, registry.alignment_inputs(c.name, adapter), num_target, **alignment_kwargs
            ),
        ),
    ):
        if key == "manipulation" and component.name == "none":
            pieces.append(manipulation)
            continue
        known = (
            registry.list_manipulations() if key == "manipulation" else registry.list_alignments()
        )
        if component.name not in known:
            raise cfg.error(
                f"{key}.name", f"unknown {key} {component.name!r}; registered: {', '.join(known)}"
            )
        try:
            pieces.append(create(component))
        except (TypeError, ValueError) as exc:
            raise cfg.error(f"{key}.kwargs", f"{component.name}: {exc}") from None
    if after:
        from .text_setup import finish_alignment

        finish_alignment(cfg, pieces[1], adapter, tokenizer, after)
    return Reprogrammed(model, pieces[0], pieces[1], adapter=adapter)


class PassThrough(Manipulation):
    """No manipulation (config ``manipulation: none``): the linear-probe baseline.

    It is not a reprogramming method and sits in no taxonomy cell, so it is not registered;
    with ``model_kwargs: {num_classes: 0}`` the "source logits" are the pooled features and a
    ``linear`` alignment is exactly a linear probe.
    """

    def extra_repr(self) -> str:
        return "no manipulation"


class _Step(nn.Module):
    """What DDP wraps: returns source *and* target logits in one forward.

    The statistical mappings need the source logits of the training pass; calling
    ``source_logits`` outside the DDP wrapper would bypass its gradient hooks.
    """

    def __init__(self, reprogrammed: nn.Module) -> None:
        super().__init__()
        self.reprogrammed = reprogrammed

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        source = self.reprogrammed.source_logits(x)
        return source, self.reprogrammed.alignment(source)


class _ShardSampler(Sampler[int]):
    """Every ``world_size``-th index from ``rank``: exact evaluation shards, no padded repeats."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loaders(
    cfg: TrainConfig, info: DistInfo, train: Dataset, val: Dataset, pad_id: int | None = None
) -> tuple[DataLoader, DistributedSampler, DataLoader]:
    """Seeded, rank-sharded loaders; ``DistributedSampler`` also serves a single process.

    Text batches (``pad_id`` given) are padded to their longest sequence; generation also needs
    each example's index, to find its reference answer.
    """
    sampler = DistributedSampler(
        train, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
    )
    common: dict[str, Any] = {
        "batch_size": cfg.batch_size,
        "num_workers": cfg.num_workers,
        "pin_memory": info.device.type == "cuda",
        "persistent_workers": cfg.num_workers > 0,
    }
    val_common = dict(common)
    if pad_id is not None:
        common["collate_fn"] = Collate(pad_id)
        val_common["collate_fn"] = Collate(pad_id, with_index=cfg.evaluation.mode == "generate")
    train_loader = DataLoader(train, sampler=sampler, **common)
    val_loader = DataLoader(
        val, sampler=_ShardSampler(len(val), info.rank, info.world_size), **val_common
    )
    return train_loader, sampler, val_loader


def make_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_update(cfg: TrainConfig, params: list[nn.Parameter]) -> Any:
    """The update rule: an optimiser (``update: backprop``) or zeroth-order SPSA-GC."""
    if cfg.update != "spsa":
        return make_optimizer(cfg, params)
    from .zeroth_order import SPSA, SPSAConfig

    try:
        settings = SPSAConfig(**{"seed": cfg.seed, **cfg.update_kwargs})
    except (TypeError, ValueError) as exc:
        raise cfg.error("update_kwargs", str(exc)) from None
    return SPSA(params, settings)


def make_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step linear warm-up, then cosine decay to zero (or constant)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(total - 1, cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and cfg.amp in AMP_DTYPES:
        return torch.autocast(device_type="cuda", dtype=AMP_DTYPES[cfg.amp])
    return contextlib.nullcontext()


def _checksum(state: dict[str, Tensor]) -> str:
    """A digest of the trainable state, to show that all ranks ended with the same parameters."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(
            state[key].detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        )
    return h.hexdigest()[:16]


def _log(info: DistInfo, message: str) -> None:
    if info.is_main and info.verbose:
        print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Statistics for label mappings
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def initialize_alignment(
    cfg: TrainConfig, info: DistInfo, reprogrammed: nn.Module, loader: DataLoader
) -> int:
    """One pass over (a prefix of) the training data, gathered across ranks, → ``initialize``."""
    reprogrammed.eval()
    logits, labels = [], []
    for i, (x, y) in enumerate(loader):
        if cfg.init_max_batches is not None and i >= cfg.init_max_batches:
            break
        x = to_device(x, info.device)
        with _autocast(cfg, info.device):
            source = reprogrammed.source_logits(x)
        logits.append(source.float())
        labels.append(y.to(info.device))
    all_logits = gather(torch.cat(logits), info)
    all_labels = gather(torch.cat(labels), info)
    reprogrammed.alignment.initialize(all_logits, all_labels)
    return int(all_labels.shape[0])


# --------------------------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------------------------


def train_one_epoch(
    cfg: TrainConfig,
    info: DistInfo,
    step_module: nn.Module,
    reprogrammed: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LambdaLR | None,
    scaler: torch.amp.GradScaler,
    epoch: int,
) -> dict[str, float]:
    from tqdm.auto import tqdm

    alignment = reprogrammed.alignment
    observe = alignment.needs_statistics
    params = reprogrammed.trainable_parameters()
    zeroth = getattr(optimizer, "zeroth_order", False)
    step_module.train()
    sums = {"loss": 0.0, "correct": 0.0, "n": 0.0}
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        disable=None if info.is_main and info.verbose else True,  # None: only on a terminal
        leave=False,
        dynamic_ncols=True,
    )
    for x, y in bar:
        x = to_device(x, info.device)
        y = y.to(info.device, non_blocking=True)
        with _autocast(cfg, info.device), torch.set_grad_enabled(not zeroth):
            source, logits = step_module(x)
            loss = F.cross_entropy(logits.float(), y)
        if observe:  # ILM/BLM: statistics of *this* pass, from every rank
            alignment.observe(gather(source.detach().float(), info), gather(y, info))
        if zeroth:  # SPSA: losses at perturbed parameters, averaged over ranks, no backward
            optimizer.step(lambda x=x, y=y: _rank_mean(_loss(cfg, info, step_module, x, y), info))
        elif optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
        n = y.shape[0]
        sums["loss"] += float(loss.detach()) * n
        sums["correct"] += float((logits.detach().argmax(1) == y).sum())
        sums["n"] += n
        bar.set_postfix(
            loss=f"{sums['loss'] / sums['n']:.4f}", acc=f"{sums['correct'] / sums['n']:.3f}"
        )
    bar.close()
    if observe:
        alignment.refresh()
    return all_reduce_sums(sums, info)


def _loss(cfg: TrainConfig, info: DistInfo, step_module: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with _autocast(cfg, info.device):
        return F.cross_entropy(step_module(x)[1].float(), y)


def _rank_mean(loss: Tensor, info: DistInfo) -> Tensor:
    """The loss averaged over ranks, so every rank takes the same zeroth-order step."""
    if not info.enabled:
        return loss
    import torch.distributed as dist

    loss = loss.detach().clone()
    dist.all_reduce(loss)
    return loss / info.world_size


@torch.no_grad()
def evaluate(
    cfg: TrainConfig, info: DistInfo, reprogrammed: nn.Module, loader: DataLoader
) -> dict[str, float]:
    reprogrammed.eval()
    sums = {"loss": 0.0, "correct": 0.0, "n": 0.0}
    for x, y in loader:
        x = to_device(x, info.device)
        y = y.to(info.device, non_blocking=True)
        with _autocast(cfg, info.device):
            logits = reprogrammed(x)
        sums["loss"] += float(F.cross_entropy(logits.float(), y, reduction="sum"))
        sums["correct"] += float((logits.argmax(1) == y).sum())
        sums["n"] += y.shape[0]
    return all_reduce_sums(sums, info)


def _epoch_line(record: dict[str, Any], epochs: int, seconds: float) -> str:
    def num(key: str) -> str:
        return "–" if record[key] is None else f"{record[key]:.4f}"

    if record["train_loss"] is None:
        head = "evaluation only (epochs: 0)"
    else:
        head = (f"epoch {record['epoch']}/{epochs}: train loss {num('train_loss')} "
                f"acc {num('train_acc')}")
    return f"{head} | val loss {num('val_loss')} acc {num('val_acc')} | {seconds:.1f}s"


def validate(
    cfg: TrainConfig,
    info: DistInfo,
    reprogrammed: nn.Module,
    loader: DataLoader,
    tokenizer: Any,
    output_dir: Path,
) -> dict[str, float]:
    """The validation sums for the configured evaluation (``evaluate`` module for generation).

    Generation also writes every prediction to ``output_dir/predictions.jsonl`` (rank 0 gathers
    them), so a wrong answer can be traced to the text the model produced.
    """
    if cfg.evaluation.mode != "generate":
        return evaluate(cfg, info, reprogrammed, loader)
    from .evaluate import evaluate_generation

    with _autocast(cfg, info.device):
        sums, predictions = evaluate_generation(cfg, info, reprogrammed, loader, tokenizer)
    if info.enabled:
        import torch.distributed as dist

        parts: list[Any] = [None] * info.world_size
        dist.all_gather_object(parts, predictions)
        predictions = [p for part in parts for p in part]
    if info.is_main:
        from reprogrammability.atomic import write_text_atomic

        output_dir.mkdir(parents=True, exist_ok=True)
        lines = sorted(json.dumps(p, sort_keys=True) for p in predictions)
        write_text_atomic(output_dir / "predictions.jsonl", "".join(f"{x}\n" for x in lines))
    return sums


def build_run(cfg: TrainConfig) -> tuple[Dataset, Dataset, Reprogrammed, Any]:
    """Datasets, model and ``Reprogrammed`` for any backbone; also the tokenizer (or ``None``).

    The data is read (and, for text, tokenised) before the model is built, so a malformed
    record fails fast.
    """
    if cfg.backbone == "timm":
        splits = build_datasets(cfg.data, cfg.image_size, cfg.num_classes, seed=cfg.seed)
        return splits.train, splits.val, build_reprogrammed(cfg, build_model(cfg)), None
    from . import text_setup

    tokenizer = text_setup.tokenizer_for(cfg)
    if cfg.backbone == "transformers":
        text_setup.check_mask_template(cfg, tokenizer)
        text_setup.prepare_tokenizer(cfg, tokenizer)
        text_setup.check_kwargs(cfg, tokenizer)
        train_set, val_set = build_text_splits(
            cfg.data, tokenizer, cfg.num_classes, cfg.seed,
            need_mask=cfg.text.head == "masked-lm",
            need_labels=cfg.evaluation.mode == "logits",
        )
        model = build_model(cfg)
        return train_set, val_set, build_reprogrammed(cfg, model, tokenizer), tokenizer
    text_setup.check_kwargs(cfg, tokenizer)
    splits = build_datasets(cfg.data, cfg.image_size, cfg.num_classes, seed=cfg.seed)
    names = cfg.data.class_names or list(getattr(splits.train, "classes", None) or [])
    if not names:
        raise cfg.error("data.class_names", "give the class names (the image folders have none)")
    prompts = text_setup.clip_class_prompts(cfg, tokenizer, names)
    model = build_model(cfg)
    return splits.train, splits.val, build_reprogrammed(cfg, model, tokenizer, prompts), tokenizer


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    from reprogrammability.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _resume_path(output_dir: Path, resume: str | None) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        candidate = output_dir / "last.pt"
        return candidate if candidate.is_file() else None
    return Path(resume)


def _keep_metrics_until(path: Path, epoch: int) -> None:
    """On resume, drop metric lines of epochs after the checkpoint (they will be redone)."""
    if not path.is_file():
        return
    from reprogrammability.atomic import write_text_atomic

    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and json.loads(line).get("epoch", 0) <= epoch:
            kept.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in kept))


def train(
    cfg: TrainConfig, info: DistInfo | None = None, resume: str | None = None
) -> dict[str, Any]:
    """Run the training described by ``cfg``; returns the summary (identical on every rank).

    ``resume``: a checkpoint path, or ``"auto"`` for ``output_dir/last.pt`` when it exists.
    """
    info = info or DistInfo(device=resolve_device(cfg.device))
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    output_dir = Path(cfg.output_dir)
    if cfg.amp != "none" and info.device.type != "cuda":
        _log(info, f"note: amp={cfg.amp} needs CUDA; training in float32 on {info.device}")

    train_set, val_set, reprogrammed, tokenizer = build_run(cfg)
    reprogrammed = reprogrammed.to(info.device)
    counts = reprogrammed.parameter_counts()
    pad_id = pad_id_of(tokenizer) if cfg.backbone == "transformers" else None
    train_loader, sampler, val_loader = make_loaders(cfg, info, train_set, val_set, pad_id)

    params = reprogrammed.trainable_parameters()
    optimizer = make_update(cfg, params) if params and cfg.epochs else None
    scheduler = (
        make_scheduler(cfg, optimizer, len(train_loader))
        if optimizer is not None and cfg.update == "backprop" else None
    )
    scaler = torch.amp.GradScaler("cuda", enabled=info.device.type == "cuda" and cfg.amp == "fp16")
    step_module: nn.Module = _Step(reprogrammed)
    if info.enabled and params and cfg.update == "backprop":
        # No per-step buffer sync: the backbone's buffers never change (eval mode) and the label
        # mappings are kept equal by gathering their statistics, so there is nothing to send.
        step_module = nn.parallel.DistributedDataParallel(
            step_module,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=False,
            forward_sync_buffers=False,
        )

    start_epoch, best = 0, {"val_acc": -1.0, "epoch": 0}
    ckpt_path = _resume_path(output_dir, resume)
    if ckpt_path is not None:
        state = load_checkpoint(ckpt_path)
        reprogrammed.load_trainable_state_dict(state["trainable"])
        if optimizer is not None and state.get("optimizer") is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = int(state["epoch"])
        best = dict(state.get("best") or best)
        _log(info, f"resumed from {ckpt_path} after epoch {start_epoch}")
    elif resume not in (None, "auto"):
        raise FileNotFoundError(f"--resume {resume}: no such checkpoint")

    if info.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_json(output_dir / "config.json", cfg.to_dict())
        if start_epoch:
            _keep_metrics_until(output_dir / "metrics.jsonl", start_epoch)
        else:  # a fresh run replaces an earlier one's outputs rather than mixing with them
            stale = [
                n for n in ("metrics.jsonl", "best.pt", "last.pt") if (output_dir / n).exists()
            ]
            if stale:
                _log(info, f"note: starting afresh in {output_dir} (use --resume to continue)")
            for name in stale:
                (output_dir / name).unlink()
    _log(
        info,
        f"{cfg.model} + {cfg.manipulation.name} + {cfg.alignment.name}: "
        f"{counts['trainable']:,} trainable / {counts['frozen']:,} frozen parameters; "
        f"{len(train_set)} train / {len(val_set)} val samples; "
        f"world size {info.world_size} on {info.device}",
    )

    alignment = reprogrammed.alignment
    if alignment.needs_statistics and start_epoch == 0:
        seen = initialize_alignment(cfg, info, reprogrammed, train_loader)
        _log(info, f"{cfg.alignment.name}: label mapping initialised from {seen} samples")

    record: dict[str, Any] = {}
    # epochs: 0 evaluates once, as "epoch 0", without training (fixed methods).
    for epoch in range(start_epoch, max(cfg.epochs, 1)):
        sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"] if optimizer is not None else 0.0  # at epoch start
        if cfg.epochs:
            tr = train_one_epoch(
                cfg, info, step_module, reprogrammed, train_loader, optimizer, scheduler, scaler,
                epoch,
            )
        else:
            tr = {}
        va = validate(cfg, info, reprogrammed, val_loader, tokenizer, output_dir)
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch + 1 if cfg.epochs else 0,
            "train_loss": tr["loss"] / tr["n"] if tr else None,
            "train_acc": tr["correct"] / tr["n"] if tr else None,
            "val_loss": va["loss"] / va["n"] if "loss" in va else None,
            "val_acc": va["correct"] / va["n"],
            "seconds": round(seconds, 3),
            "trainable_params": counts["trainable"],
            "frozen_params": counts["frozen"],
            "lr": lr,
        }
        improved = record["val_acc"] > best["val_acc"]
        if improved:
            best = {"val_acc": record["val_acc"], "epoch": record["epoch"]}
        if info.is_main:
            with open(output_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
            payload = {
                "trainable": reprogrammed.trainable_state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                "epoch": record["epoch"],
                "best": best,
                "config": cfg.to_dict(),
            }
            save_checkpoint(output_dir / "last.pt", payload)
            if improved:
                save_checkpoint(output_dir / "best.pt", payload)
        _log(info, _epoch_line(record, cfg.epochs, seconds))
        barrier(info)

    checksums = [_checksum(reprogrammed.trainable_state_dict())]
    if info.enabled:
        import torch.distributed as dist

        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, checksums[0])
        checksums = list(gathered)
    last_ckpt = output_dir / "last.pt"
    summary = {
        "model": cfg.model,
        "pretrained": cfg.pretrained,
        "manipulation": cfg.manipulation.name,
        "alignment": cfg.alignment.name,
        "epochs": cfg.epochs,
        "final": record,
        "best_val_acc": best["val_acc"],
        "best_epoch": best["epoch"],
        "trainable_params": counts["trainable"],
        "frozen_params": counts["frozen"],
        "checkpoint_bytes": last_ckpt.stat().st_size
        if info.is_main and last_ckpt.is_file()
        else None,
        "world_size": info.world_size,
        "device": str(info.device),
        "rank_checksums": checksums,
        "ranks_agree": len(set(checksums)) == 1,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    summary = broadcast_object(summary, info)  # type: ignore[assignment]
    if info.is_main:
        _write_json(output_dir / "summary.json", summary)
    return summary


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reference.train",
        description=(
            "Train a manipulation + alignment around a frozen timm, transformers or CLIP model."
        ),
    )
    parser.add_argument("--config", required=True, help="YAML config (see reference/configs/)")
    parser.add_argument(
        "--override",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, dotted for nesting (e.g. lr=0.01 data.train=x.pt)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        metavar="CHECKPOINT",
        help="resume from a checkpoint (default: output_dir/last.pt when it exists)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = [item for group in args.override for item in group]
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = init_distributed(cfg.device)
    try:
        train(cfg, info, resume=args.resume)
        # Every rank waits here until all have received the final summary, so no rank tears the
        # process group down (closing its sockets) while another is still inside a collective.
        # Only on success: after an error the other ranks may never arrive.
        barrier(info)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DataError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    exit_rank(main())
