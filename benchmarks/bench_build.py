"""How long ``repro build`` takes on a 10,000-paper database: validate, render, write.

The database grows by hand, a few papers a week, but every contributor runs the build after each
edit and CI runs ``--check`` on every pull request, so the build must stay interactive long after
the list is large. Target: ``validate.load`` + ``render_outputs`` under 2 s together for 10,000
papers. The synthetic database comes from ``benchmarks/synthetic.py`` (entries shaped like real
ones: multi-valued tags, comments, notes), so the numbers track the real code paths.

Each stage is timed separately, best of ``--repeat`` runs (the minimum is the least noisy
estimate of what the code costs; the median is printed beside it), and all stages run side by
side in the same process on the same data, so their ratios are comparable across machines.

    python benchmarks/bench_build.py            # 10,000 papers, best of 5
    python benchmarks/bench_build.py -n 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "scripts"))

from synthetic import make_synthetic_yaml
from timing import time_runs

TARGET_S = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--papers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from reprogrammability.render import environment, render_outputs, write_outputs
    from reprogrammability.validate import load

    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmpdir = Path(tmp)
        db = tmpdir / "papers.yaml"
        db.write_text(make_synthetic_yaml(args.papers), encoding="utf-8")
        environment()  # template compilation is a once-per-process cost, as in `repro build`

        load_times, result = time_runs(lambda: load(db), args.repeat)
        if result.problems:
            print(f"synthetic database invalid: {result.problems[0].format()}", file=sys.stderr)
            return 1
        papers = result.papers
        render_times, outputs = time_runs(lambda: render_outputs(papers, tmpdir), args.repeat)

        counter = iter(range(args.repeat))

        def write_fresh() -> list[str]:
            # A fresh directory each time: every file is new, the worst case for the writer.
            return write_outputs(outputs, tmpdir / f"out{next(counter)}")

        write_times, changed = time_runs(write_fresh, args.repeat)
        assert len(changed) == len(outputs)

        stages = [
            ("validate.load", load_times),
            ("render_outputs", render_times),
            ("write_outputs (fresh dir)", write_times),
        ]
        try:
            from reprogrammability.bibtex import export_bib
        except ImportError:
            export_bib = None
        if export_bib is not None:
            bib_times, _ = time_runs(lambda: export_bib(papers), args.repeat)
            stages.append(("bibtex.export_bib", bib_times))

    size = sum(len(t.encode("utf-8")) for t in outputs.values())
    print(
        f"{args.papers} synthetic papers, best of {args.repeat} runs "
        f"({size / 1e6:.1f} MB rendered into {len(outputs)} files)"
    )
    print(f"{'stage':<28}{'best s':>9}{'median s':>10}{'best CPU s':>12}{'share':>8}")
    best = {name: min(w for w, _ in times) for name, times in stages}
    everything = sum(best.values())
    for name, times in stages:
        walls = [w for w, _ in times]
        print(
            f"{name:<28}{min(walls):>9.3f}{statistics.median(walls):>10.3f}"
            f"{min(c for _, c in times):>12.3f}{best[name] / everything:>8.0%}"
        )
    core = best["validate.load"] + best["render_outputs"]
    print(
        f"{'validate + render':<28}{core:>9.3f}   target < {TARGET_S:.1f} s: "
        f"{'met' if core < TARGET_S else 'MISSED'} ({core / TARGET_S:.0%} of the budget)"
    )
    print(f"{'all stages':<28}{everything:>9.3f}")
    return 0 if core < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
