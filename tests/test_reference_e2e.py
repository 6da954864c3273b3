"""The end-to-end digits experiment runs (a much-reduced version: one seed, one epoch each).

This checks that the script works — data, source pre-training, every method through the trainer,
the table — not the accuracies, which ``docs/reference-results.md`` records from a full run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reference_support import one_torch_thread  # noqa: F401

from reference.experiments import digits_transfer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tasks_are_disjoint_real_digits() -> None:
    tasks = digits_transfer.load_tasks()
    for task in tasks.values():
        assert task["x_train"].shape[1:] == (1, 8, 8)
        assert 0.0 <= float(task["x_train"].min()) and float(task["x_train"].max()) <= 1.0
        assert set(task["y_train"].tolist()) == set(range(5)) == set(task["y_test"].tolist())
    # 1,797 digits in all, about half per task, split 70/30.
    total = sum(len(t["y_train"]) + len(t["y_test"]) for t in tasks.values())
    assert total == 1797
    # Source and target images are different digits: no target image appears in the source set.
    src = tasks["source"]["x_train"].flatten(1)
    tgt = tasks["target"]["x_test"].flatten(1)
    assert not (torch.cdist(tgt, src).min(dim=1).values == 0).any()


@pytest.mark.slow
def test_reduced_run_produces_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    data = Path(__file__).resolve().parents[1] / "data"
    for name in ("papers", "datasets"):
        (tmp_path / f"{name}.yaml").write_bytes((data / f"{name}.yaml").read_bytes())
    results = tmp_path / "results.yaml"
    results.write_text("results:\n", encoding="utf-8")
    code = digits_transfer.main(
        ["--seeds", "0", "--epoch-scale", "0.01", "--source-epochs", "1", "--out", str(out),
         "--record", str(results)]
    )
    assert code == 0
    from reprogrammability.validate import load

    recorded = load(results)  # --record went through validation and wrote every method's row
    assert recorded.problems == []
    assert {r.method for r in recorded.records} == {m.label for m in digits_transfer.METHODS}
    (command,) = {r.source.command for r in recorded.records}
    assert command == ("python -m reference.experiments.digits_transfer --seeds 0 "
                       "--epoch-scale 0.01 --source-epochs 1")
    report = json.loads((out / "results.json").read_text())
    (run,) = report["runs"]
    assert set(run["methods"]) == {m.key for m in digits_transfer.METHODS}
    for key, row in run["methods"].items():
        assert 0.0 <= row["test_acc"] <= 1.0, key
        assert row["epochs"] == 1
    methods = run["methods"]
    # Reprogramming trains a sliver of what fine-tuning trains; no training means nothing trains.
    assert methods["frozen_flm"]["trainable_params"] == 0
    assert methods["full_finetune"]["trainable_params"] == run["source_params"]
    for key in ("padding_ilm", "watermark_linear", "vpt_shallow_linear", "vpt_deep_linear"):
        assert 0 < methods[key]["trainable_params"] < run["source_params"] // 50
        assert (out / "seed0" / key / "last.pt").is_file()
    table = (out / "results.md").read_text()
    assert all(m.label in table for m in digits_transfer.METHODS)
    assert "Target test acc." in capsys.readouterr().out


def test_overhead_benchmark_runs(capsys: pytest.CaptureFixture) -> None:
    """benchmarks/bench_reference.py measures every input-space method (tiny settings here)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reference.py"
    spec = importlib.util.spec_from_file_location("bench_reference", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(
        [
            "--models",
            "resnet18",
            "--batch",
            "2",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--input-size",
            "64",
        ]
    )
    out = capsys.readouterr().out
    assert code in (0, 1)  # 1 = some overhead above the limit; timings are not asserted
    assert "backbone forward+backward-to-input" in out
    for _key, _name, _kwargs, label in bench.METHODS:
        assert label in out
