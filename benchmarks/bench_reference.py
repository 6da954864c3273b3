"""Reprogramming overhead: a training step of each input-space method vs. the bare backbone.

An input-space method must backpropagate through the frozen model to its input anyway, so the
floor is one forward + backward-to-the-input of the backbone. This benchmark measures, in ONE
run, at batch 64 (random weights, ``pretrained=False``):

* ``backbone``: ``x.requires_grad_()``; ``loss(model(x)).backward()`` with every model parameter
  frozen — the unavoidable cost;
* each input-space method: ``Reprogrammed`` (manipulation + the same frozen backbone + a linear
  alignment 1000 → 10) and a full Adam step (``zero_grad``, forward, backward, ``step``).

Measurements are interleaved round by round (backbone, then every method, in a rotating order),
after warm-up rounds, so that drift (thermal, other processes) hits all of them alike; the
overhead is the median over rounds of the per-round ratio ``method / backbone − 1``. Each method
gets the input size it is designed for (a padding prompt takes the image at its inner size, the
Elsayed program a smaller centred image, the others the source resolution), so no resizing is
counted that a real pipeline would not do.

Usage::

    python benchmarks/bench_reference.py                 # resnet18 and vit_tiny_patch16_224
    python benchmarks/bench_reference.py --rounds 9 --threads 2 --models resnet18
    python benchmarks/bench_reference.py --threads 1 --clock cpu   # on a busy shared CPU

The exit status is 1 when some method's overhead is at or above ``--limit`` (10 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "scripts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from reference import registry
from reference.core import Reprogrammed

#: (key, registry name, kwargs, label); the target image size is derived per method below.
METHODS: tuple[tuple[str, str, dict, str], ...] = (
    ("watermark", "watermark_perturbation", {}, "full-image perturbation (watermark)"),
    ("elsayed", "adversarial_reprogramming", {}, "Elsayed program around a centred image"),
    ("padding", "padding_prompt", {}, "padding prompt"),
    ("smm", "sample_specific_mask", {}, "SMM (generator on a 2x-pooled image)"),
    # The SMM paper's generator reads the image at full resolution (input_pool=1).
    ("smm_full", "sample_specific_mask", {"input_pool": 1}, "SMM, full-resolution generator"),
)
NUM_TARGET = 10


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _target_size(
    name: str, manipulation: torch.nn.Module, source: tuple[int, int]
) -> tuple[int, int]:
    if name == "padding_prompt":
        return tuple(manipulation.inner)  # type: ignore[return-value]
    if name == "adversarial_reprogramming":
        return (source[0] * 4 // 7, source[1] * 4 // 7)  # e.g. 128 inside 224
    return source


def build_steps(
    model_name: str, batch: int, device: torch.device, input_size: int | None = None
) -> tuple[dict[str, Callable[[], None]], dict[str, int]]:
    """One callable per measured variant, each doing exactly one timed step; trainable counts."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False).to(device).eval()
    model.requires_grad_(False)
    labels = torch.randint(0, NUM_TARGET, (batch,), device=device)
    source_labels = torch.randint(0, 1000, (batch,), device=device)

    from reference.backbones import adapt

    adapter_kwargs = {"input_size": input_size} if input_size else {}
    source = adapt(model, **adapter_kwargs).input_size
    base_x = torch.rand(batch, 3, *source, device=device)

    def backbone() -> None:
        x = base_x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x), source_labels)
        loss.backward()

    steps: dict[str, Callable[[], None]] = {"backbone": backbone}
    counts: dict[str, int] = {}
    for key, name, kwargs, _label in METHODS:
        reprogrammed = registry.build(
            name,
            "linear",
            model,
            NUM_TARGET,
            manipulation_kwargs=kwargs,
            adapter_kwargs=adapter_kwargs,
        ).to(device)
        reprogrammed.train()
        size = _target_size(name, reprogrammed.manipulation, source)
        x = torch.rand(batch, 3, *size, device=device)
        optimizer = torch.optim.Adam(reprogrammed.trainable_parameters(), lr=1e-3)

        def step(rp: Reprogrammed = reprogrammed, x: torch.Tensor = x, opt=optimizer) -> None:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(rp(x), labels)
            loss.backward()
            opt.step()

        steps[key] = step
        counts[key] = reprogrammed.parameter_counts()["trainable"]
    return steps, counts


def measure(
    steps: dict[str, Callable[[], None]],
    rounds: int,
    warmup: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Interleaved timings: every round runs every variant once, the order rotating per round."""
    names = list(steps)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            _sync(device)
            t0 = clock()
            steps[name]()
            _sync(device)
            if r >= warmup:
                times[name].append(clock() - t0)
    return times


def report(
    model_name: str, times: dict[str, list[float]], counts: dict[str, int], batch: int, limit: float
) -> list[str]:
    """Print the table; return the names of methods whose overhead is above ``limit``."""
    base = times["backbone"]
    base_ms = statistics.median(base) * 1000
    print(
        f"\n{model_name}, batch {batch}: backbone forward+backward-to-input {base_ms:.1f} ms (median)"
    )
    print(f"  {'method':42s} {'step ms':>9s} {'overhead':>9s} {'trainable':>10s}")
    labels = {key: label for key, _, _, label in METHODS}
    over = []
    for name, label in labels.items():
        ratios = [m / b for m, b in zip(times[name], base)]
        overhead = statistics.median(ratios) - 1.0
        ms = statistics.median(times[name]) * 1000
        flag = "" if overhead < limit else "  <-- above limit"
        print(f"  {label:42s} {ms:9.1f} {overhead * 100:8.1f}% {counts[name]:10,d}{flag}")
        if overhead >= limit:
            over.append(name)
    return over


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "vit_tiny_patch16_224"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (median over them)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--input-size", type=int, default=None, help="source resolution (default: the model's own)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a shared CPU; CPU device only)",
    )
    parser.add_argument("--limit", type=float, default=0.10, help="overhead regarded as too much")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.clock == "cpu" and device.type != "cpu":
        parser.error("--clock cpu measures CPU work; use the wall clock on a GPU")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {args.threads} thread(s)"
    )
    print(
        f"torch {torch.__version__}; {name}; {args.clock} clock; "
        f"{args.warmup} warm-up + {args.rounds} measured rounds"
    )
    too_slow: list[str] = []
    for model_name in args.models:
        steps, counts = build_steps(model_name, args.batch, device, args.input_size)
        times = measure(steps, args.rounds, args.warmup, device, clock)
        over = report(model_name, times, counts, args.batch, args.limit)
        too_slow += [f"{model_name}/{m}" for m in over]
    if too_slow:
        print(f"\noverhead ≥ {args.limit:.0%}: {', '.join(too_slow)}")
        return 1
    print(f"\nall input-space methods within {args.limit:.0%} of the bare backbone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
