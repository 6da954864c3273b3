"""The results collection as a leaderboard: validation rules, grouping, averages, figures, record.

Each validation rule is exercised with one bad entry and the exact line and column it must be
reported at; the pages and figures are checked for the promises the issue makes (one table per
dataset and backbone, best first, reproduced beside reported, every value linked, averages only
over complete suites, byte-identical SVGs); ``--record`` is checked to be all-or-nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reprogrammability import figures, leaderboard, record, results_pages
from reprogrammability.collections import Catalog
from reprogrammability.records import Cell, Result, Source
from reprogrammability.render import render_outputs
from reprogrammability.validate import load, load_bytes, load_collections

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

GOOD = """\
results:
  - paper: cai2024sample
    method: SMM
    cell: {configuration: learnable, location: input, operator: parametric, alignment: statistical}
    backbone: ResNet-18
    pretraining: ImageNet-1K
    dataset: cifar10
    split: test
    shots: full
    metric: top-1 accuracy
    value: 72.8
    source: {kind: reported, where: Table 1, url: "https://arxiv.org/abs/2406.03150"}
"""


def _others() -> dict[str, bytes]:
    return {name: (DATA / f"{name}.yaml").read_bytes() for name in ("papers", "datasets")}


def _problems(text: str) -> list[tuple[int, int, str, str]]:
    result = load_bytes(text.encode(), "data/results.yaml", others=_others())
    return [(p.line, p.col, p.field, p.message) for p in result.problems]


def _one(text: str) -> tuple[int, int, str, str]:
    found = _problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_well_formed_row_is_valid() -> None:
    assert _problems(GOOD) == []


def test_dataset_id_must_resolve_with_did_you_mean() -> None:
    line, col, field, message = _one(GOOD.replace("dataset: cifar10", "dataset: cifar-10"))
    assert (line, col, field) == (7, 14, "results[0].dataset")
    assert "'cifar-10' is not a dataset id in data/datasets.yaml" in message
    assert "did you mean 'cifar10'?" in message


def test_paper_id_must_resolve() -> None:
    line, col, field, message = _one(GOOD.replace("paper: cai2024sample", "paper: cai2024sampel"))
    assert (line, col, field) == (2, 12, "results[0].paper")
    assert "did you mean 'cai2024sample'?" in message


def test_metric_comes_from_the_vocabulary() -> None:
    line, col, field, message = _one(GOOD.replace("top-1 accuracy", "top1 accuracy"))
    assert (line, col, field) == (10, 13, "results[0].metric")
    assert "did you mean 'top-1 accuracy'?" in message


def test_value_must_lie_in_the_metric_range() -> None:
    line, col, field, message = _one(GOOD.replace("value: 72.8", "value: 172.8"))
    assert (line, col, field) == (11, 12, "results[0].value")
    assert "outside the range of top-1 accuracy ([0, 100])" in message


def test_a_fraction_for_a_percentage_gets_a_hint() -> None:
    _, _, _, message = _one(GOOD.replace("value: 72.8", "value: -0.5"))
    assert "outside the range" in message
    assert _problems(GOOD.replace("value: 72.8", "value: 0.728")) == []  # in range: allowed


def test_a_reported_number_must_say_where_in_the_paper() -> None:
    text = GOOD.replace("where: Table 1, ", "")
    line, col, field, message = _one(text)
    assert (line, col, field) == (12, 13, "results[0].source.where")
    assert message == "missing required field 'where'"


def test_a_reported_number_must_name_its_paper() -> None:
    text = GOOD.replace("  - paper: cai2024sample\n    method: SMM\n"
                        "    cell: {configuration: learnable, location: input, operator: "
                        "parametric, alignment: statistical}\n",
                        "  - method: SMM\n    note: a baseline.\n")
    line, col, field, message = _one(text)
    assert (line, col, field) == (2, 5, "results[0]")
    assert "a reported result needs paper" in message


def test_the_cell_must_be_one_of_the_papers_combinations() -> None:
    line, col, field, message = _one(GOOD.replace("operator: parametric", "operator: additive"))
    assert (line, col, field) == (4, 11, "results[0].cell")
    assert "not one of cai2024sample's tag combinations" in message


def test_a_row_without_a_cell_must_say_what_baseline_it_is() -> None:
    text = GOOD.replace("    cell: {configuration: learnable, location: input, operator: "
                        "parametric, alignment: statistical}\n", "")
    line, col, field, message = _one(text)
    assert (line, col, field) == (2, 5, "results[0]")
    assert "without a cell must say in note what it is" in message
    assert _problems(text.replace("    value: 72.8\n",
                                  "    value: 72.8\n    note: a linear probe.\n")) == []


def test_shots_accepts_zero_shot_but_not_negative() -> None:
    assert _problems(GOOD.replace("shots: full", "shots: 0")) == []
    line, col, field, message = _one(GOOD.replace("shots: full", "shots: -2"))
    assert (line, col, field) == (9, 12, "results[0].shots")
    assert "k >= 0" in message


def test_two_rows_of_one_setting_and_source_kind_are_duplicates() -> None:
    body = GOOD.split("\n", 1)[1]
    text = GOOD + body.replace("value: 72.8", "value: 70.1").replace("Table 1", "Table 3")
    line, col, field, message = _one(text)
    assert (line, col, field) == (13, 12, "results[1].paper")
    assert "duplicate of results[0] at line 2" in message


def test_a_reproduced_row_beside_a_reported_one_is_no_duplicate() -> None:
    body = GOOD.split("\n", 1)[1].replace(
        '{kind: reported, where: Table 1, url: "https://arxiv.org/abs/2406.03150"}',
        '{kind: reproduced, command: "python x.py", commit: "abc1234", machine: cpu, '
        'date: "2026-01-02"}')
    assert _problems(GOOD + body) == []


def test_the_repository_results_are_valid_and_plentiful() -> None:
    loaded = load_collections(DATA / "papers.yaml")
    assert loaded.results["results"].problems == []
    results = loaded.catalog.results
    reported = [r for r in results if r.source.kind == "reported"]
    assert len(reported) >= 150
    assert all(r.source.where and r.source.url for r in reported)
    assert {r.source.kind for r in results} == {"reported", "reproduced"}


# --- grouping, sorting, averages ----------------------------------------------------------------


def _result(method: str, dataset: str, value: float, *, backbone: str = "ResNet-18",
            kind: str = "reported", metric: str = "top-1 accuracy", paper: str = "p",
            line: int = 0) -> Result:
    source = (Source(kind, where="Table 1", url="https://example.org/p") if kind == "reported"
              else Source(kind, command="python run.py", commit="abc1234", machine="cpu",
                          date="2026-01-01"))
    return Result(paper=paper, method=method,
                  cell=Cell("learnable", "input", "additive", "statistical"),
                  backbone=backbone, pretraining="ImageNet-1K", dataset=dataset, split="test",
                  shots="full", metric=metric, value=value, source=source, line=line)


def test_one_group_per_dataset_and_backbone_in_name_then_vocabulary_order() -> None:
    rows = [_result("A", "svhn", 1), _result("A", "cifar10", 2, backbone="ViT-B/32"),
            _result("A", "cifar10", 3), _result("B", "cifar10", 4, backbone="ResNet-50")]
    names = {"svhn": "SVHN", "cifar10": "CIFAR-10"}
    keys = [(g.dataset, g.backbone) for g in leaderboard.groups(rows, names)]
    assert keys == [("cifar10", "ResNet-18"), ("cifar10", "ResNet-50"), ("cifar10", "ViT-B/32"),
                    ("svhn", "ResNet-18")]


def test_lines_sort_best_first_for_the_metric_direction() -> None:
    acc = [_result(m, "cifar10", v) for m, v in (("low", 10), ("high", 90), ("mid", 50))]
    err = [_result(m, "cifar10", v, metric="MSE") for m, v in (("worse", 3.0), ("better", 1.0))]
    (group,) = leaderboard.groups(acc + err)
    assert [line.first.method for line in group.lines] == ["better", "worse", "high", "mid",
                                                           "low"]


def test_reported_and_reproduced_of_one_setting_share_a_line() -> None:
    rows = [_result("A", "cifar10", 70.0), _result("A", "cifar10", 68.5, kind="reproduced"),
            _result("B", "cifar10", 60.0, kind="reproduced")]
    (group,) = leaderboard.groups(rows)
    merged = [(ln.reported and ln.reported.value, ln.reproduced and ln.reproduced.value)
              for ln in group.lines]
    assert merged == [(70.0, 68.5), (None, 60.0)]


def test_suite_averages_only_where_every_member_is_present() -> None:
    suite = leaderboard.Suite("s", "S", "two datasets", ("cifar10", "svhn"))
    rows = [_result("A", "cifar10", 60), _result("A", "svhn", 81),
            _result("B", "cifar10", 99)]  # B misses svhn: no average
    (avg,) = leaderboard.suite_averages(rows, [suite])
    assert (avg.method, avg.value) == ("A", 70.5)


def test_the_smm_table_averages_reproduce_the_papers_average_row() -> None:
    """A transcription check: the paper prints 52.53 and 56.35 as SMM's Table 1 averages."""
    loaded = load_collections(DATA / "papers.yaml")
    means = {(a.backbone, a.method): a.value
             for a in leaderboard.suite_averages(loaded.catalog.results, [leaderboard.VR11])}
    assert means[("ResNet-18", "SMM (Ours)")] == 52.53
    assert means[("ResNet-50", "SMM (Ours)")] == 56.35
    assert means[("ResNet-18", "Pad")] == 43.91


# --- pages and figures ----------------------------------------------------------------------


def _catalog() -> Catalog:
    return load_collections(DATA / "papers.yaml").catalog


def test_every_value_links_to_its_source() -> None:
    catalog = _catalog()
    page = render_outputs(catalog)["docs/leaderboards.md"]
    for r in catalog.results:
        if r.source.kind == "reported":
            assert f"]({r.source.url} " in page
    assert "](reference-results.md)" in page
    assert "`python -m reference.experiments.digits_transfer`" in page


def test_reference_results_tables_come_from_reproduced_rows() -> None:
    catalog = _catalog()
    page = render_outputs(catalog)["docs/reference-results.md"]
    for r in catalog.results:
        if r.source.kind == "reproduced":
            shown = leaderboard.format_value(r.value)
            assert f"| {shown}" in page, r.method
    assert "{{" not in page and "No run of" not in page


def test_figures_are_byte_identical_and_accessible() -> None:
    catalog = _catalog()
    first, second = results_pages.figure_texts(catalog), results_pages.figure_texts(catalog)
    assert first == second
    assert set(first) == {results_pages.FIGURE_PARAMS, results_pages.FIGURE_AVERAGES}
    for text in first.values():
        root = ET.fromstring(text)
        ns = "{http://www.w3.org/2000/svg}"
        assert root.get("role") == "img"
        assert root.find(f"{ns}title") is not None and root.find(f"{ns}desc") is not None
        assert "prefers-color-scheme: dark" in text
    outputs = render_outputs(catalog)
    assert outputs[results_pages.FIGURE_PARAMS] == first[results_pages.FIGURE_PARAMS]


def test_committed_figures_are_fresh() -> None:
    for rel, text in results_pages.figure_texts(_catalog()).items():
        assert (ROOT / rel).read_text(encoding="utf-8") == text, rel


def test_scatter_is_log_scaled_in_parameters() -> None:
    points = [figures.Point(10, 50, "a", "reported"), figures.Point(1000, 60, "b", "reproduced")]
    svg = figures.scatter("t", "d", [("ResNet-18", points)])
    assert ">1e1<" in svg and ">1e3<" in svg
    xs = sorted(float(c.get("cx")) for c in ET.fromstring(svg).iter(
        "{http://www.w3.org/2000/svg}circle") if c.get("class") in ("reported", "reproduced")
        and c.find("{http://www.w3.org/2000/svg}title") is not None)
    assert len(xs) == 2 and xs[0] < xs[1]


def test_empty_figures_say_so() -> None:
    assert "No result with a trainable-parameter count yet." in figures.scatter("t", "d", [])
    assert "No suite has a complete set of results yet." in figures.bars("t", "d", [])


# --- --record -----------------------------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    for name in ("papers", "datasets"):
        (tmp_path / f"{name}.yaml").write_bytes((DATA / f"{name}.yaml").read_bytes())
    path = tmp_path / "results.yaml"
    path.write_text("# kept comment\n" + GOOD, encoding="utf-8")
    return path


def _reproduced_row(value: float = 61.0, method: str = "SMM") -> dict:
    return {"paper": "cai2024sample", "method": method,
            "cell": {"configuration": "learnable", "location": "input",
                     "operator": "parametric", "alignment": "statistical"},
            "backbone": "ResNet-18", "pretraining": "ImageNet-1K", "dataset": "cifar10",
            "split": "test", "shots": "full", "metric": "top-1 accuracy", "value": value,
            "seeds": 1, "params": 1234,
            "source": record.reproduced("python -m x", "2 CPUs", commit="abc1234",
                                        date="2026-12-01")}


def test_record_appends_valid_rows_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _tree(tmp_path)
    assert record.record(path, [_reproduced_row()]) == 1
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# kept comment\n" + GOOD)
    result = load(path)
    assert result.problems == [] and len(result.records) == 2


def test_record_replaces_the_reproduced_row_of_the_same_setting(tmp_path: Path) -> None:
    path = _tree(tmp_path)
    record.record(path, [_reproduced_row(61.0)])
    record.record(path, [_reproduced_row(62.5)])
    values = sorted((r.source.kind, r.value) for r in load(path).records)
    assert values == [("reported", 72.8), ("reproduced", 62.5)]


def test_record_is_all_or_nothing(tmp_path: Path) -> None:
    path = _tree(tmp_path)
    before = path.read_bytes()
    bad = _reproduced_row(method="other")
    bad["dataset"] = "cifar-10"
    with pytest.raises(record.RecordError) as info:
        record.record(path, [_reproduced_row(), bad])
    assert "is unchanged" in str(info.value) and "did you mean 'cifar10'?" in str(info.value)
    assert path.read_bytes() == before


def test_digits_experiment_rows_record_through_validation(tmp_path: Path) -> None:
    from reference.experiments import digits_transfer as exp

    path = _tree(tmp_path)
    runs = [{"methods": {m.key: {"test_acc": 0.5 + 0.01 * i, "trainable_params": 100 + i,
                                 "epochs": m.epochs} for i, m in enumerate(exp.METHODS)}}
            for _ in range(2)]
    rows = exp.result_rows(runs, command=exp.COMMAND, machine="cpu", commit="abc1234",
                           date="2026-12-01")
    assert record.record(path, rows) == len(exp.METHODS)
    recorded = [r for r in load(path).records if r.source.kind == "reproduced"]
    assert {r.method for r in recorded} == {m.label for m in exp.METHODS}
    assert all(r.std == 0.0 and r.seeds == 2 for r in recorded)


def test_the_committed_reproduced_rows_are_what_the_experiments_record() -> None:
    """Re-running an experiment with --record replaces exactly the committed rows."""
    from reference.experiments import digits_transfer as exp

    committed = {r.method for r in _catalog().results
                 if r.source.command == exp.COMMAND}
    assert committed == {m.label for m in exp.METHODS}


def test_efficientnet_experiment_rows_record_through_validation(tmp_path: Path) -> None:
    import argparse

    from reference.experiments import efficientnet_digits as exp

    path = _tree(tmp_path)
    methods = exp.reprogramming_methods(96)
    rows = {m["key"]: {"test_acc": 0.8, "trainable_params": 1000, "epochs": 8, "lr": m["lr"]}
            for m in methods}
    rows["linear_probe"] = {"test_acc": 0.9, "trainable_params": 12810, "epochs": 100,
                            "lr": 0.01}
    args = argparse.Namespace(epochs=8, seed=0, size=96, probe_epochs=100)
    command = exp.command_line(args)
    recorded = exp.result_rows(rows, methods, command=command, machine="cpu",
                               commit="abc1234", date="2026-12-01")
    assert record.record(path, recorded) == 3
    # the committed rows are the ones a default run replaces: same command, same methods
    committed = {r.method for r in _catalog().results if r.source.command == command}
    assert committed == {r["method"] for r in recorded}


def test_record_asks_for_the_commit_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """Inside a checkout ``--record`` names the commit; outside one it is a usage error (exit 2)
    raised before training starts, never a traceback after it."""
    import argparse

    parser = argparse.ArgumentParser(prog="experiment")
    assert record.commit_to_record(parser, None) is None
    commit = record.commit_to_record(parser, "results.yaml")
    assert commit is not None and len(commit) >= 7 and int(commit, 16) >= 0
    monkeypatch.chdir(tmp_path)  # not a git checkout
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(SystemExit) as info:
        record.commit_to_record(parser, "results.yaml")
    assert info.value.code == 2
    assert "--record: cannot tell the commit to record" in capsys.readouterr().err
