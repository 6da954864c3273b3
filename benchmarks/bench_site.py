"""The website's costs: build time for the real database, and the explorer at 10,000 papers.

Three numbers, each against its target:

1. ``repro site`` on the real database (validate, render every page, stage, MkDocs build):
   under 10 s, best of ``--repeat`` runs. CPU seconds are printed beside wall seconds (this
   process and the generator's), since the machine is often shared.
2. The explorer page of a synthetic 10,000-paper database (``benchmarks/synthetic.py``): its
   weight as served (HTML raw and gzip-compressed, plus the script and stylesheet). The page is
   built by the same code as the real site, in a site holding only the explorer and the pages it
   links to, because building every page of a 10,000-paper site is not what is measured here.
3. In headless Chromium (tests/browser_support.py), the time from a filter change to the
   updated list: the click or keystroke, the script's filtering and counting, and the browser's
   style, layout and paint of the next frame (measured up to a task queued from the next
   animation frame). Target: under 50 ms at 10,000 papers; the median and the slowest of the
   changes are both reported, with the machine's load average (a shared machine's scheduler,
   not the page, makes the slowest one).

    python benchmarks/bench_site.py              # real site best of 3, 10,000 papers
    python benchmarks/bench_site.py -n 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import make_synthetic_yaml

BUILD_TARGET_S = 10.0
FILTER_TARGET_MS = 50.0

#: In the page: perform one change, then wait for the frame that shows it.
_MEASURE = """async ([kind, arg]) => {
  const settle = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  await settle();
  const t0 = performance.now();
  if (kind === 'click') {
    document.querySelector(arg).click();
  } else {
    const q = document.getElementById('explorer-q');
    q.value = arg;
    q.dispatchEvent(new Event('input', {bubbles: true}));
  }
  const script = performance.now() - t0;
  await settle();
  return [script, performance.now() - t0,
          Number(document.getElementById('explorer').getAttribute('data-visible'))];
}"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_real_site(repeat: int) -> float:
    from reprogrammability.build import derived_outputs
    from reprogrammability.sitegen import build_site
    from reprogrammability.validate import load_collections

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        for i in range(repeat):
            wall, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
            loaded = load_collections(ROOT / "data" / "papers.yaml")
            assert not loaded.problems
            outputs = derived_outputs(loaded.catalog, ROOT)
            build_site(ROOT, outputs, Path(tmp) / f"html{i}", staging=Path(tmp) / "staging",
                       quiet=True)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu,
                         _children_cpu() - child))
        papers = len(loaded.catalog.papers)
    best = min(runs)
    print(f"real site ({papers} papers): best {best[0]:.2f} s wall "
          f"({best[1]:.2f} s CPU here + {best[2]:.2f} s CPU in MkDocs), median "
          f"{statistics.median(r[0] for r in runs):.2f} s of {repeat}; target < "
          f"{BUILD_TARGET_S:.0f} s: {'met' if best[0] < BUILD_TARGET_S else 'MISSED'}")
    return best[0]


def build_synthetic_explorer(n: int, tmp: Path) -> Path:
    """A site with the explorer of ``n`` synthetic papers (and stubs of the pages it links)."""
    from reprogrammability.sitegen import build_site
    from reprogrammability.validate import load_collections
    from reprogrammability.website import EXPLORER_PATH, site_outputs

    db = tmp / "papers.yaml"
    db.write_text(make_synthetic_yaml(n), encoding="utf-8")
    loaded = load_collections(db)
    assert not loaded.problems, loaded.problems[0].format()
    start = time.perf_counter()
    explorer = site_outputs(loaded.catalog)[EXPLORER_PATH]
    print(f"explorer page of {n} papers rendered in {time.perf_counter() - start:.2f} s")
    root = tmp / "root"
    shutil.copytree(ROOT / "docs" / "assets", root / "docs" / "assets")
    outputs = {
        "README.md": "# Benchmark\n\n[explorer](docs/explorer.md)\n",
        EXPLORER_PATH: explorer,
        "docs/taxonomy.md": "# Taxonomy\n",
        "docs/papers.md": "# Papers\n",
    }
    start = time.perf_counter()
    out = build_site(root, outputs, tmp / "html", staging=tmp / "staging", quiet=True)
    print(f"  built by MkDocs in {time.perf_counter() - start:.2f} s")
    return out


def page_weight(site: Path) -> None:
    page = (site / "docs" / "explorer" / "index.html").read_bytes()
    extras = sum((site / "docs" / "assets" / name).stat().st_size
                 for name in ("explorer.js", "explorer.css"))
    print(f"explorer page weight: {len(page) / 1e6:.2f} MB HTML "
          f"({len(gzip.compress(page, 6)) / 1e6:.2f} MB gzip-compressed), "
          f"+ {extras / 1e3:.1f} kB explorer script and styles")


def bench_filters(site: Path, n: int) -> None:
    from browser_support import CHROMIUM_ARGS, chromium_path, keep_local, serve
    from playwright.sync_api import sync_playwright

    browser_path = chromium_path()
    if browser_path is None:
        print("no chromium: filter timings skipped (apt-get install chromium)")
        return
    changes = [("click", f'input[name="{axis}"][value="{value}"]')
               for axis, value in (("configuration", "learnable"), ("location", "input"),
                                   ("operator", "additive"), ("alignment", "linear"))]
    with serve(site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=list(CHROMIUM_ARGS))
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        keep_local(context, base)
        page = context.new_page()
        page.goto(base + "/docs/explorer/")
        nav = page.evaluate("JSON.parse(JSON.stringify(performance.getEntriesByType("
                            "'navigation')[0]))")
        print(f"explorer load in the browser: DOMContentLoaded "
              f"{nav['domContentLoadedEventEnd']:.0f} ms, load {nav['loadEventEnd']:.0f} ms "
              "(local server)")
        # Chrome's own accounting of the main thread, summed over all changes: which part of
        # the work (script, style, layout) the time goes to.
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def metrics() -> dict[str, float]:
            return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

        before = metrics()
        rows = []
        for _ in range(3):  # tick the four axes one by one, then untick them
            for change in changes + changes:
                rows.append(("filter", *page.evaluate(_MEASURE, list(change))))
            for text in ("reprogramming", "zzzz", ""):
                rows.append(("search", *page.evaluate(_MEASURE, ["input", text])))
        after = metrics()
        browser.close()
    per_change = {name: (after[name] - before[name]) * 1000 / len(rows) for name in (
        "TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "ThreadTime")}
    print("renderer main thread per change (Chrome's metrics; durations are wall time, "
          "ThreadTime is CPU time, which a busy machine inflates less): " + ", ".join(
              f"{name.removesuffix('Duration')} {ms:.1f} ms" for name, ms in per_change.items()))
    assert any(r[3] < n for r in rows) and rows[-1][3] == n
    for kind in ("filter", "search"):
        script = [r[1] for r in rows if r[0] == kind]
        frame = [r[2] for r in rows if r[0] == kind]
        print(f"{kind} change -> updated list ({len(frame)} changes): script median "
              f"{statistics.median(script):.1f} ms, max {max(script):.1f} ms; to the next "
              f"frame median {statistics.median(frame):.1f} ms, max {max(frame):.1f} ms")
    worst = max(r[2] for r in rows)
    typical = statistics.median(r[2] for r in rows)
    verdict = {True: "met", False: "MISSED"}
    print(f"change to the updated frame, all {len(rows)} changes: median {typical:.1f} ms "
          f"(target < {FILTER_TARGET_MS:.0f} ms: {verdict[typical < FILTER_TARGET_MS]}), "
          f"slowest {worst:.1f} ms ({verdict[worst < FILTER_TARGET_MS]}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, which inflates wall times")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--papers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    bench_real_site(args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as tmp:
        site = build_synthetic_explorer(args.papers, Path(tmp))
        page_weight(site)
        bench_filters(site, args.papers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
