"""How fast ``repro validate`` reads and checks a large database, next to the obvious ways.

Run ``python benchmarks/bench_validate.py [N]`` (default 10,000 synthetic papers). Every
contender runs on the same text in the same process, interleaved, and the table gives the
median CPU time of several rounds and its ratio to the bare libyaml event stream (the floor
for any reader that keeps positions), so numbers from a busy machine still compare.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reprogrammability import validate, yamlsource
from reprogrammability.schema import paper_schema
from synthetic import make_synthetic_yaml


def main(n: int = 10_000, rounds: int = 3) -> None:
    text = make_synthetic_yaml(n)
    data = text.encode("utf-8")
    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    validator, _ = validate._validators()
    entries = yaml.load(text, Loader=loader)["papers"]
    paper_validator = type(validator)(paper_schema())

    def events() -> None:
        parser = loader(text)
        try:
            while parser.get_event().__class__ is not yaml.StreamEndEvent:
                pass
        finally:
            parser.dispose()

    contenders = {
        "libyaml events only (floor)": events,
        "yaml.load(CSafeLoader)": lambda: yaml.load(text, Loader=loader),
        "yamlsource.parse_bytes": lambda: yamlsource.parse_bytes(data),
        "validate.load_bytes (all)": lambda: validate.load_bytes(data, "synthetic.yaml"),
        "jsonschema is_valid/entry": lambda: all(paper_validator.is_valid(e) for e in entries),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            start = time.process_time()
            result = run()
            times[name].append(time.process_time() - start)
            del result
    result = validate.load_bytes(data, "synthetic.yaml")
    assert not result.problems and len(result.papers) == n, "synthetic data must be valid"
    floor = statistics.median(times["libyaml events only (floor)"])
    print(f"{n} papers, {len(data) / 1e6:.1f} MB, median CPU time of {rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:30s} {median * 1000:7.0f} ms  {median / floor:5.2f}x floor")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
