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

``--all`` measures instead EVERY registered method (each manipulation with a linear head, each
alignment on the unmanipulated backbone) for a few steps at batch 64: step time, peak memory
(CUDA) and overhead over the bare backbone's step (the same frozen model with a linear head and
no manipulation). Vision methods run on a ViT, text methods on GPT-2 (BERT for WARP's masked-LM
cells), CoOp/CoCoOp on CLIP; ``--size base`` builds ViT-B/16, GPT-2 (124M) and CLIP ViT-B/32
from their configs with random weights (nothing is downloaded), ``--size tiny`` the tests' tiny
models (quick on a CPU). On CUDA the steps run under bf16 autocast (``--amp``)::

    python benchmarks/bench_reference.py --all --device cuda            # base models, bf16
    python benchmarks/bench_reference.py --all --device cpu --size tiny --steps 2

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
from reference.core import Manipulation, Reprogrammed

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


# ------------------------------------------------------------------------ every method (--all)


def _backbones(size: str, device: torch.device) -> dict[str, tuple[torch.nn.Module, dict]]:
    """family -> (frozen model, adapter kwargs); random weights, built from configs."""
    sys.path.insert(0, str(ROOT / "tests"))
    import reference_support as support

    if size == "tiny":
        models = {
            "vit": (support.make_vit(from_timm_registry=False), {}),
            "gpt2": (support.tiny_gpt2(n_positions=128), {}),
            "bert": (support.tiny_bert(max_position_embeddings=128),
                     {"mask_token_id": support.MASK_ID}),
            "clip": (support.tiny_clip(), {"class_prompts": support.clip_prompts()}),
        }
    else:
        import timm
        import transformers

        torch.manual_seed(0)
        bos, eos = 49406, 49407  # CLIP's start/end-of-text ids
        ids = torch.tensor([[bos, 320 + k, 269, eos] for k in range(NUM_TARGET)])
        models = {
            "vit": (timm.create_model("vit_base_patch16_224", pretrained=False), {}),
            "gpt2": (transformers.GPT2LMHeadModel(transformers.GPT2Config()), {}),
            "bert": (transformers.BertForMaskedLM(transformers.BertConfig()),
                     {"mask_token_id": support.MASK_ID}),
            "clip": (transformers.CLIPModel(transformers.CLIPConfig()),
                     {"class_prompts": {"input_ids": ids, "attention_mask": torch.ones_like(ids)}}),
        }
    return {k: (m.to(device).eval().requires_grad_(False), kw) for k, (m, kw) in models.items()}


def _family(name: str, kind: str) -> str:
    cls = registry.get_manipulation(name) if kind == "manipulation" else registry.get_alignment(name)
    if "vision-language" in cls.modalities:
        return "clip"
    if name in ("warp", "class-embeddings"):
        return "bert"
    return "vit" if "vision" in cls.modalities else "gpt2"


def _example(name: str, family: str, batch: int):
    import reference_support as support

    profile = support.ExampleProfile(
        batch=batch, seq_len=32, mask_id=support.MASK_ID, mask_pos=5, plain_image_seed=1,
        token_perturbation_max_length=32, padding_prompt_size=32, signal_seed=0,
        demonstrations="context_ids",
    )
    backbone = {"clip": "vit"}.get(family, family)
    kwargs, x, _ = support.example(name, backbone, backbone == "vit", profile)
    if family == "clip":
        kwargs = {"length": 4, **({"meta_reduction": 4} if name == "cocoop" else {})}
    return kwargs, x


def _alignment_kwargs(name: str, num_source: int) -> dict:
    if name in ("verbalizer", "contextual_calibration"):
        return {"token_ids": [10 + k for k in range(NUM_TARGET)]}
    if name == "class-assignment":
        return {"per_class": 1}
    return {}


def _to(x, device: torch.device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_to(v, device) for v in x)
    return x


def all_methods(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """One row per registered method: step ms, peak MiB, overhead over the bare backbone."""
    import contextlib

    models = _backbones(args.size, device)
    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if args.amp == "bf16"
           else contextlib.nullcontext())
    labels = torch.randint(0, NUM_TARGET, (args.batch,), device=device)
    cases: list[tuple[str, str, str]] = [("bare", "", f) for f in ("vit", "gpt2", "bert", "clip")]
    cases += [("manipulation", n, _family(n, "manipulation")) for n in registry.list_manipulations()]
    cases += [("alignment", n, _family(n, "alignment")) for n in registry.list_alignments()
              if n != "self_consistency"]  # votes over generations, not a per-step head
    rows, bare = [], {}
    for kind, name, family in cases:
        model, adapter_kwargs = models[family]
        from reference.backbones import adapt

        adapter = adapt(model, **adapter_kwargs)
        kwargs, x = _example(name if kind == "manipulation" else "", family, args.batch)
        align = name if kind == "alignment" else "linear"
        torch.manual_seed(0)
        if kind == "manipulation":
            manipulation = registry.create_manipulation(name, adapter, **kwargs)
        else:
            manipulation = Manipulation(adapter)
        from reference.registry import alignment_inputs, create_alignment

        alignment = create_alignment(align, alignment_inputs(align, adapter), NUM_TARGET,
                                     **_alignment_kwargs(align, adapter.num_source))
        rp = Reprogrammed(model, manipulation, alignment, adapter=adapter).to(device)
        rp.train()
        x = _to(x, device)
        params = rp.trainable_parameters()
        opt = torch.optim.Adam(params, lr=1e-3) if params else None
        if alignment.needs_statistics:
            with torch.no_grad(), amp:
                alignment.initialize(rp.source_logits(x).float(), labels)

        def step(rp: Reprogrammed = rp, x=x, opt=opt) -> None:
            with amp:
                loss = F.cross_entropy(rp(x).float(), labels)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        for _ in range(args.warmup):
            step()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(args.steps):
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1000
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        if kind == "bare":
            bare[family] = ms
        rows.append({"kind": kind, "name": name or f"bare {family}", "backbone": family,
                     "ms": ms, "peak_mib": peak, "trainable": rp.parameter_counts()["trainable"],
                     "overhead": None if kind == "bare" else ms / bare[family] - 1.0})
    return rows


def print_all(rows: list[dict]) -> None:
    print(f"  {'method':28s} {'backbone':8s} {'step ms':>9s} {'peak MiB':>9s} "
          f"{'vs bare':>8s} {'trainable':>11s}")
    for r in rows:
        peak = f"{r['peak_mib']:9.0f}" if r["peak_mib"] is not None else f"{'–':>9s}"
        over = f"{r['overhead'] * 100:7.0f}%" if r["overhead"] is not None else f"{'–':>8s}"
        print(f"  {r['name']:28s} {r['backbone']:8s} {r['ms']:9.1f} {peak} {over} "
              f"{r['trainable']:11,d}")


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
    parser.add_argument("--all", action="store_true", help="every registered method (see above)")
    parser.add_argument("--size", choices=("tiny", "base"), default=None,
                        help="--all backbones (default: base on CUDA, tiny on CPU)")
    parser.add_argument("--amp", choices=("bf16", "none"), default=None,
                        help="--all autocast (default: bf16 on CUDA, none on CPU)")
    parser.add_argument("--steps", type=int, default=5, help="--all: measured steps per method")
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
    if args.all:
        args.size = args.size or ("base" if device.type == "cuda" else "tiny")
        args.amp = args.amp or ("bf16" if device.type == "cuda" else "none")
        print(f"torch {torch.__version__}; {name}; {args.size} backbones; amp {args.amp}; "
              f"batch {args.batch}; {args.warmup} warm-up + {args.steps} measured steps")
        print_all(all_methods(args, device))
        return 0
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
