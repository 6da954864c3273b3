"""Our prompt tuning, P-tuning and prefix tuning vs. Hugging Face PEFT's: step time and peak memory.

Both sides train the same thing on the same frozen GPT-2-shaped model (random weights, no
download): one Adam step = ``zero_grad``, forward, cross-entropy on the vocabulary logits at the
last position, backward, ``step``, with the prompt parameters copied from PEFT's model into ours
so both compute the same numbers (``tests/test_reference_peft.py`` checks that they do). PEFT
is asked for the last position's logits only (``logits_to_keep=1``), as our text adapter projects
only the answer position, so the LM head costs both sides the same.

Measured in ONE run, interleaved round by round (ours, PEFT, ours, ...) after warm-up steps:

* step time: median over rounds of wall-clock seconds per step;
* peak memory of one step above what was allocated before it: on CUDA
  ``torch.cuda.max_memory_allocated``; on the CPU, the running sum of the tensor allocations and
  frees that ``torch.profiler`` records (``profile_memory=True``), which counts tensors only.

Ratios are ours / PEFT's (below 1: ours is faster or smaller). The exit status is 1 when a ratio
is above ``--limit``.

Usage::

    python benchmarks/bench_peft.py                       # CPU, the default sizes
    python benchmarks/bench_peft.py --device cuda --batch 64 --seq 256
    python benchmarks/bench_peft.py --methods prefix_tuning p_tuning_lstm --rounds 9
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "scripts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from reference import Reprogrammed, adapt, registry  # noqa: E402
from reference.peft_interop import load_peft_prompt, peft_config  # noqa: E402

Step = Callable[[], None]


def methods(p: int) -> dict[str, tuple[str, dict]]:
    """name -> (our registry name, our settings); PEFT's config is derived from ours."""
    return {
        "prompt_tuning": ("soft_prompt", {"length": p}),
        "p_tuning_mlp": ("p_tuning", {"length": p, "encoder": "mlp", "hidden": 128}),
        "p_tuning_lstm": ("p_tuning", {"length": p, "encoder": "lstm", "hidden": 128}),
        "prefix_tuning": ("prefix_tuning", {"length": p, "projection_hidden": None}),
        "prefix_tuning_mlp": ("prefix_tuning", {"length": p, "projection_hidden": 128}),
    }


def build_steps(name: str, args: argparse.Namespace, device: torch.device) -> tuple[Step, Step]:
    """One training step of ours and one of PEFT's, on the same model and parameters."""
    import peft
    import transformers

    ours_name, kwargs = methods(args.virtual_tokens)[name]
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=args.vocab, n_embd=args.width, n_layer=args.layers, n_head=args.heads,
            n_positions=args.seq + args.virtual_tokens, bos_token_id=1, eos_token_id=2,
        )
    ).eval().to(device)
    ids = torch.randint(5, args.vocab, (args.batch, args.seq), device=device)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, args.vocab, (args.batch,), device=device)

    adapter = adapt(model)
    manipulation = registry.create_manipulation(ours_name, adapter, **kwargs).to(device)
    config = peft_config(manipulation, "CAUSAL_LM")
    theirs = peft.get_peft_model(copy.deepcopy(model), config).to(device)
    load_peft_prompt(manipulation, theirs.prompt_encoder["default"])
    n = adapter.num_source
    identity = registry.create_alignment("identity", n, n)
    ours = Reprogrammed(model, manipulation, identity, adapter=adapter)
    ours.train()
    theirs.train()
    theirs.base_model.eval()

    def step_of(forward: Callable[[], torch.Tensor], params: list[nn.Parameter]) -> Step:
        optimiser = torch.optim.Adam(params, lr=1e-3)

        def step() -> None:
            optimiser.zero_grad(set_to_none=True)
            F.cross_entropy(forward(), labels).backward()
            optimiser.step()

        return step

    ours_step = step_of(lambda: ours({"input_ids": ids, "attention_mask": mask}),
                        ours.trainable_parameters())
    theirs_step = step_of(
        lambda: theirs(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1],
        [p for p in theirs.parameters() if p.requires_grad],
    )
    return ours_step, theirs_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(step: Step, device: torch.device) -> int:
    """Bytes allocated at the peak of one step, above what was allocated before it."""
    if device.type == "cuda":
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    deltas = []
    for event in prof.events():
        # Allocations (and frees) inside an operator are its own memory; frees outside any
        # operator appear as "[memory]" events.
        delta = event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        if delta:
            deltas.append((event.time_range.start, delta))
    current = peak = 0
    for _, delta in sorted(deltas):
        current += delta
        peak = max(peak, current)
    return peak


def main(argv: list[str] | None = None) -> int:
    all_methods = list(methods(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", nargs="+", default=all_methods, choices=all_methods)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--virtual-tokens", type=int, default=20)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--limit", type=float, default=1.10, help="worst acceptable ratio")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    warnings.filterwarnings("ignore")

    print(
        f"GPT-2 shape: {args.layers} layers, width {args.width}, vocab {args.vocab}; batch "
        f"{args.batch} x {args.seq} tokens, {args.virtual_tokens} virtual tokens; {device}, "
        f"{torch.get_num_threads()} threads; median of {args.rounds} interleaved rounds"
    )
    header = (
        f"{'method':<19}{'ours ms':>9}{'PEFT ms':>9}{'time':>7}"
        f"{'ours MiB':>10}{'PEFT MiB':>10}{'memory':>8}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name in args.methods:
        ours, theirs = build_steps(name, args, device)
        for _ in range(args.warmup):
            ours()
            theirs()
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for r in range(args.rounds):
            order = [("ours", ours), ("theirs", theirs)]
            for key, step in order if r % 2 == 0 else order[::-1]:
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                times[key].append(time.perf_counter() - start)
        t_ours, t_theirs = (statistics.median(times[k]) for k in ("ours", "theirs"))
        m_ours, m_theirs = peak_memory(ours, device), peak_memory(theirs, device)
        time_ratio, memory_ratio = t_ours / t_theirs, m_ours / max(m_theirs, 1)
        worst = max(worst, time_ratio, memory_ratio)
        print(
            f"{name:<19}{t_ours * 1e3:>9.1f}{t_theirs * 1e3:>9.1f}{time_ratio:>7.2f}"
            f"{m_ours / 2**20:>10.1f}{m_theirs / 2**20:>10.1f}{memory_ratio:>8.2f}"
        )
    print(f"worst ratio (ours / PEFT): {worst:.2f} (limit {args.limit:.2f})")
    return 1 if worst > args.limit else 0


if __name__ == "__main__":
    raise SystemExit(main())
