"""The long fuzz run, for use before a release: many random cases per parser, and a verdict.

    python -m fuzz.run                      # every target, its default number of cases
    python -m fuzz.run --cases 50000 --jobs 2 validate-papers config
    python -m fuzz.run --list

Each case takes one of the target's seed inputs (real repository files), applies 1-4 random
mutations (``fuzz/mutate.py``) and runs the parser under the target's property
(``fuzz/targets.py``). The table printed at the end gives, per target: cases, inputs accepted,
inputs rejected with problems, property violations, tracebacks (must be 0), the slowest case
and the throughput. A failing case is saved under ``--out`` (default ``fuzz/crashes/``) as the
mutated bytes plus a text file with the mutations and the traceback, so it can be replayed with
``--replay FILE``. Exit status 1 when any target had a violation or a traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import random
import sys
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # pragma: no cover - run as a script
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
    __package__ = "fuzz"

from .mutate import apply, random_mutations
from .targets import ROOT, TARGETS, Violation

sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]


@dataclass
class Tally:
    """One target's totals."""

    name: str
    cases: int = 0
    accepted: int = 0
    rejected: int = 0
    violations: int = 0
    tracebacks: int = 0
    slowest: float = 0.0
    seconds: float = 0.0
    saved: list[str] = field(default_factory=list)


def _save(out: Path, name: str, index: int, data: bytes, mutations: list, text: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{name}-{index}"
    stem.with_suffix(".bin").write_bytes(data)
    stem.with_suffix(".txt").write_text(f"target: {name}\nmutations: {mutations!r}\n\n{text}",
                                        encoding="utf-8")
    return str(stem.with_suffix(".bin"))


def fuzz_target(name: str, cases: int, seed: int, out: str, keep: int = 5) -> Tally:
    """Run ``cases`` random cases of one target; save at most ``keep`` failing inputs."""
    target = TARGETS[name]
    rng = random.Random(seed ^ zlib.crc32(name.encode()))
    tally = Tally(name)
    # One untimed, uncounted run of an unmutated seed first: the first input pays for imports
    # (a text config imports transformers, seconds), which is not the parser hanging.
    with contextlib.suppress(Exception):  # the seed's own verdict is the unmutated tests' job
        target.check(target.case(0, 0))
    began = time.perf_counter()
    for index in range(cases):
        mutations = random_mutations(rng)
        data = apply(target.case(rng.randrange(1 << 16), rng.randrange(1 << 20)), mutations)
        case_rng = random.Random(rng.randrange(1 << 30))
        try:
            outcome = target.check(data, case_rng)
        except Violation as exc:
            tally.violations += 1
            if len(tally.saved) < keep:
                tally.saved.append(_save(Path(out), name, index, data, mutations,
                                         f"violation: {exc}\n"))
        except Exception:  # noqa: BLE001 - a traceback is exactly what is being counted
            tally.tracebacks += 1
            if len(tally.saved) < keep:
                tally.saved.append(_save(Path(out), name, index, data, mutations,
                                         traceback.format_exc()))
        else:
            tally.slowest = max(tally.slowest, outcome.seconds)
            if outcome.problems:
                tally.rejected += 1
            else:
                tally.accepted += 1
        tally.cases += 1
    tally.seconds = time.perf_counter() - began
    return tally


def _table(tallies: list[Tally]) -> str:
    head = ("target", "cases", "accepted", "problems", "violations", "tracebacks", "slowest s",
            "cases/s")
    rows = [head] + [(t.name, str(t.cases), str(t.accepted), str(t.rejected), str(t.violations),
                      str(t.tracebacks), f"{t.slowest:.3f}",
                      f"{t.cases / t.seconds:.0f}" if t.seconds else "-") for t in tallies]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) for r in rows)


def replay(path: Path, name: str) -> int:
    """Run one saved input again and show what happens (a traceback prints as usual)."""
    outcome = TARGETS[name].check(path.read_bytes())
    print(f"{name}: no failure ({outcome.problems} problems, {outcome.seconds:.3f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="targets to run (default: all; see --list)")
    parser.add_argument("--cases", type=int, default=None,
                        help="cases per target (default: each target's own, e.g. 50000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="targets run in parallel")
    parser.add_argument("--out", default=str(ROOT / "fuzz" / "crashes"),
                        help="where failing inputs are saved")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--replay", metavar="FILE", help="re-run one saved input of TARGET")
    args = parser.parse_args(argv)
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:20} {t.long_cases:>7} cases by default")
        return 0
    unknown = [n for n in args.targets if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if args.cases is not None and args.cases < 1:
        parser.error("--cases must be at least 1")
    if args.replay:
        if len(args.targets) != 1:
            parser.error("--replay needs exactly one TARGET")
        return replay(Path(args.replay), args.targets[0])
    names = args.targets or list(TARGETS)
    jobs = [(n, args.cases or TARGETS[n].long_cases, args.seed, args.out) for n in names]
    began = time.perf_counter()
    if args.jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            tallies = list(pool.map(fuzz_target, *zip(*jobs)))
    else:
        tallies = [fuzz_target(*job) for job in jobs]
    print(_table(tallies))
    total = sum(t.cases for t in tallies)
    print(f"\n{total} cases in {time.perf_counter() - began:.0f} s (seed {args.seed})")
    for t in tallies:
        for path in t.saved:
            print(f"{t.name}: failing input saved as {path}")
    return 1 if any(t.violations or t.tracebacks for t in tallies) else 0


if __name__ == "__main__":
    raise SystemExit(main())
