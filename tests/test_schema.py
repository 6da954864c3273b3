"""The JSON Schema: valid Draft 2020-12, derived from taxonomy.py, stable, and what CI commits.

Also the compiled acceptance check that lets ``repro validate`` skip jsonschema for valid
entries: it must never accept an entry jsonschema rejects.
"""

from __future__ import annotations

import ast
import copy
import json
import random
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from reprogrammability import schema as schema_mod
from reprogrammability.schema import build_schema, compile_checker, paper_schema, schema_json
from reprogrammability.taxonomy import AXES, PARADIGM_KEYS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "schema" / "papers.schema.json"


def _valid_entry() -> dict:
    return {
        "id": "tsai2021paper",
        "title": "A Paper",
        "authors": ["Ada Tsai", "Bo Chen"],
        "year": 2021,
        "venue": "ICLR",
        "arxiv": "2101.00001",
        "doi": "10.1234/abc.5",
        "url": "https://arxiv.org/abs/2101.00001",
        "code": "https://github.com/example/repo",
        "paradigm": PARADIGM_KEYS[0],
        **{axis.field: axis.keys[0] for axis in AXES},
        "note": "why",
    }


def test_schema_is_valid_draft_2020_12() -> None:
    schema = build_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    Draft202012Validator.check_schema(schema)
    Draft202012Validator.check_schema(paper_schema())


def test_enums_are_exactly_the_taxonomy_values() -> None:
    defs = build_schema()["$defs"]
    assert defs["paradigm"]["enum"] == list(PARADIGM_KEYS)
    for axis in AXES:
        assert defs[axis.field]["enum"] == list(axis.keys)
        prop = defs["paper"]["properties"][axis.field]
        assert prop["title"] == f"{axis.name} ({axis.symbol})"
        # every value's definition is explained to editors hovering the field
        for value in axis.values:
            assert value.definition in defs[axis.field]["description"]


def test_vocabulary_comes_only_from_taxonomy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value added to taxonomy.py reaches the schema with no other edit."""
    location = next(a for a in AXES if a.field == "location")
    extra = type(location.values[0])("output", "Output", "A new place.", "none yet")
    grown = type(location)(location.field, location.name, location.symbol, location.question,
                           location.values + (extra,))
    monkeypatch.setattr(schema_mod, "AXES", tuple(grown if a is location else a for a in AXES))
    assert build_schema()["$defs"]["location"]["enum"][-1] == "output"
    # and no module of the validation path spells an axis value out itself
    vocabulary = set(PARADIGM_KEYS).union(*(a.keys for a in AXES))
    for module in ("schema.py", "validate.py", "yamlsource.py"):
        source = (ROOT / "scripts" / "reprogrammability" / module).read_text(encoding="utf-8")
        assert not _string_constants(source) & vocabulary, module


def _string_constants(source: str) -> set[str]:
    """Every string literal in the code, docstrings excepted (examples there are prose)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
    }
    return {
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_paper_fields_required_optional_and_closed() -> None:
    paper = build_schema()["$defs"]["paper"]
    assert paper["additionalProperties"] is False
    assert paper["required"] == ["id", "title", "authors", "year", "venue", "url", "paradigm",
                                 *(a.field for a in AXES)]
    assert set(paper["properties"]) == set(paper["required"]) | {
        "arxiv", "doi", "code", "domain", "backbones", "datasets", "note", "reference"}
    assert list(paper["properties"]) == list(schema_mod.FIELDS)
    top = build_schema()
    assert top["required"] == ["papers"] and top["additionalProperties"] is False


def test_schema_json_is_stable_text() -> None:
    text = schema_json()
    assert text == schema_json()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text) == build_schema()
    assert '\n  "$schema"' in text  # indent 2, insertion order kept ($schema first)
    assert "λ" in text  # symbols written as UTF-8, not \u escapes


def test_committed_schema_file_matches() -> None:
    if not COMMITTED.exists():
        pytest.skip("schema/papers.schema.json is rendered by `repro build`; not present yet")
    assert COMMITTED.read_text(encoding="utf-8") == schema_json(), (
        "schema/papers.schema.json is stale: run `repro build`"
    )


@pytest.mark.parametrize("path", [
    ROOT / "tests" / "fixtures" / "validate" / "valid.yaml", ROOT / "data" / "papers.yaml",
], ids=["fixture", "database"])
def test_schema_accepts_the_databases(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not written yet")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(build_schema()).iter_errors(data)]
    assert errors == []


def test_schema_rejects_a_wrong_top_level() -> None:
    validator = Draft202012Validator(build_schema())
    assert not validator.is_valid({})
    assert not validator.is_valid({"papers": {}})
    assert not validator.is_valid({"papers": [], "extra": 1})
    assert not validator.is_valid({"papers": [dict(_valid_entry(), location="imput")]})
    assert validator.is_valid({"papers": [_valid_entry()]})


@pytest.mark.parametrize("arxiv", [
    "2506.04650", "2506.04650v2", "1412.6980", "0704.0001v12",
    "cs/0112017", "hep-th/9901001v2", "math.GT/0309136", "cond-mat.str-el/0207270",
])
def test_arxiv_pattern_accepts(arxiv: str) -> None:
    assert re.search(schema_mod.ARXIV_PATTERN, arxiv)


@pytest.mark.parametrize("arxiv", [
    "arXiv:2506.04650", "https://arxiv.org/abs/2506.04650", "2506.046501", "2506.046",
    "cs/011201", "CS/0112017", "2506.04650 ", "2506.04650v", "",
    "1809.1829", "1899.01829", "1412.12345", "0703.0001", "cs/0199017",
])
def test_arxiv_pattern_rejects(arxiv: str) -> None:
    assert not re.search(schema_mod.ARXIV_PATTERN, arxiv)


def test_doi_and_url_patterns() -> None:
    assert re.search(schema_mod.DOI_PATTERN, "10.18653/v1/2021.acl-long.353")
    for bad in ("https://doi.org/10.1/x", "10.12/x", "doi:10.1234/x", "10.1234/"):
        assert not re.search(schema_mod.DOI_PATTERN, bad), bad
    for good in ("https://arxiv.org/abs/1", "http://example.org"):
        assert re.search(schema_mod.URL_PATTERN, good)
    for bad in ("arxiv.org/abs/1", "https://", "ftp://x.org", "https://a b"):
        assert not re.search(schema_mod.URL_PATTERN, bad), bad


# --- the compiled acceptance check -----------------------------------------------------------

_BAD_VALUES = [
    None, True, 0, 2021.5, 1800, 3000, "", " ", "2021", "imput", [], ["x", "x"], [None],
    [[]], {}, {"a": 1}, "https://x.org", "2506.04650", "10.1234/x", "model reprogramming",
    ["learnable", "learnable"], ["input", "hidden"], [1, True], 2021.0,
]


def test_checker_never_accepts_what_jsonschema_rejects() -> None:
    validator = Draft202012Validator(paper_schema())
    accept = compile_checker(paper_schema())
    rng = random.Random(7)
    fields = list(_valid_entry()) + ["extra"]
    accepted = rejected = 0
    for _ in range(3000):
        entry = _valid_entry()
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(fields)
            if rng.random() < 0.15:
                entry.pop(name, None)
            else:
                entry[name] = copy.deepcopy(rng.choice(_BAD_VALUES))
        verdict = validator.is_valid(entry)
        if accept(entry):
            accepted += 1
            assert verdict, entry
        else:
            rejected += 1
            # The check may be conservative, but not for plainly valid tag combinations.
            if verdict and all(not isinstance(v, float) for v in entry.values()):
                pytest.fail(f"valid entry rejected by the fast check: {entry}")
    assert accepted > 100 and rejected > 1000


def test_checker_accepts_valid_entries_and_variants() -> None:
    accept = compile_checker(paper_schema())
    entry = _valid_entry()
    assert accept(entry)
    for name in ("arxiv", "doi", "code", "note"):
        smaller = dict(entry)
        del smaller[name]
        assert accept(smaller)
    multi = dict(entry, location=list(next(a for a in AXES if a.field == "location").keys[:2]))
    assert accept(multi)


def test_checker_hands_unknown_keywords_to_jsonschema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}}
    check = compile_checker(schema)
    assert not check({"a": "x@y.org"})  # cannot judge "format": accepts nothing
    assert compile_checker({"type": "string", "pattern": "^a"})("abc")
