"""The JSON Schema of ``data/papers.yaml``, derived from the taxonomy rather than written by hand.

The schema is the contract for contributors and their editors (a YAML language server given
``schema/papers.schema.json`` completes tag values and explains them on hover), and the first
check ``repro validate`` runs. Deriving every enum, title and description from ``taxonomy.py``
means a new axis value reaches the schema, the validator's did-you-mean and the docs at once;
the committed ``schema/papers.schema.json`` is rendered from :func:`schema_json` and a test
keeps the two identical.

The tag fields accept a single value or a non-empty list of distinct values, so the common case
stays a one-word line (``location: input``) and multi-valued papers need no second syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .taxonomy import AXES, PARADIGMS, Axis

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: An absolute URI that names the schema without claiming a host; tools only need it stable.
SCHEMA_ID = "urn:reprogrammability:schema:papers"

#: Years outside this range are typos (``20211``, ``221``), not papers.
YEAR_MIN = 1950
YEAR_MAX = 2100

#: New-style arXiv ids (``2506.04650``, 4-digit sequence before 2015) with an optional version.
ARXIV_NEW_PATTERN = r"\d{4}\.\d{4,5}(v\d+)?"
#: Old-style ids (``cs/0112017``, ``math.GT/0309136``) with an optional version.
ARXIV_OLD_PATTERN = r"[a-z-]+(\.[A-Z]{2})?/\d{7}(v\d+)?"
ARXIV_PATTERN = rf"^({ARXIV_NEW_PATTERN}|{ARXIV_OLD_PATTERN})$"
DOI_PATTERN = r"^10\.\d{4,9}/\S+$"
URL_PATTERN = r"^https?://[^\s/]+\S*$"
#: At least one non-space character: an all-blank title is as empty as a missing one.
NONBLANK_PATTERN = r"\S"

#: The tag fields in file order: the paradigm, then the four axes.
TAG_FIELDS: tuple[str, ...] = ("paradigm",) + tuple(a.field for a in AXES)
REQUIRED_FIELDS: tuple[str, ...] = (
    "title", "authors", "year", "venue", "url",
) + TAG_FIELDS
OPTIONAL_FIELDS: tuple[str, ...] = ("arxiv", "doi", "code", "note")
#: Every field an entry may have, in the order the docs and ``repro add`` write them.
FIELDS: tuple[str, ...] = (
    "title", "authors", "year", "venue", "arxiv", "doi", "url", "code",
) + TAG_FIELDS + ("note",)


def tag_vocabulary() -> dict[str, tuple[str, ...]]:
    """Tag field -> its admissible values, straight from ``taxonomy.py``."""
    vocab = {"paradigm": tuple(p.key for p in PARADIGMS)}
    vocab.update({a.field: a.keys for a in AXES})
    return vocab


def _value_list(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"- {key}: {definition}" for key, definition in pairs)


def _paradigm_defs() -> tuple[dict[str, Any], dict[str, Any]]:
    pairs = [(p.key, p.definition) for p in PARADIGMS]
    value = {
        "title": "Paradigm value",
        "description": "One of the three families the literature names.\n\n" + _value_list(pairs),
        "enum": [p.key for p in PARADIGMS],
    }
    field = {
        "title": "Paradigm",
        "description": "The paradigm(s) the paper belongs to: one value, or a list of distinct "
        "values when it spans several.",
    }
    return value, field


def _axis_defs(axis: Axis) -> tuple[dict[str, Any], dict[str, Any]]:
    pairs = [(v.key, v.definition) for v in axis.values]
    value = {
        "title": f"{axis.name} ({axis.symbol}) value",
        "description": f"{axis.question}\n\n" + _value_list(pairs),
        "enum": list(axis.keys),
    }
    field = {
        "title": f"{axis.name} ({axis.symbol})",
        "description": f"{axis.question} One value, or a list of distinct values when the "
        "paper's methods use several.",
    }
    return value, field


def _one_or_many(ref: str, field: dict[str, Any]) -> dict[str, Any]:
    """A tag field: one vocabulary value, or a non-empty list of distinct ones."""
    return {
        **field,
        "anyOf": [
            {"$ref": ref},
            {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"$ref": ref}},
        ],
    }


def _string(title: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", **extra}


def _paper_schema(tag_fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": _string("Title", "The paper's title as published.", pattern=NONBLANK_PATTERN),
        "authors": {
            "title": "Authors",
            "description": "Every author, in the paper's order, one name per item.",
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": NONBLANK_PATTERN},
        },
        "year": {
            "title": "Year",
            "description": "Year of the version cited (conference year, else first arXiv "
            "version), as an unquoted integer.",
            "type": "integer",
            "minimum": YEAR_MIN,
            "maximum": YEAR_MAX,
        },
        "venue": _string(
            "Venue", "Conference, journal or 'arXiv' for preprints.", pattern=NONBLANK_PATTERN
        ),
        "arxiv": _string(
            "arXiv id",
            "Quoted arXiv identifier, new style (\"2506.04650\") or old style "
            "(\"cs/0112017\"), optionally with a version (\"v2\"). Quote it: unquoted, YAML "
            "reads 2506.00620 as the number 2506.0062.",
            pattern=ARXIV_PATTERN,
        ),
        "doi": _string("DOI", "The DOI without a resolver prefix, e.g. 10.1145/3292500.",
                       pattern=DOI_PATTERN),
        "url": _string("URL", "Canonical page of the paper (http or https).",
                       pattern=URL_PATTERN),
        "code": _string("Code", "Official code repository (http or https).",
                        pattern=URL_PATTERN),
    }
    for name, spec in tag_fields.items():
        properties[name] = spec
    properties["note"] = _string(
        "Note", "Why the tags were chosen, and where judgement was needed."
    )
    return {
        "title": "Paper",
        "description": "One paper and its place in the taxonomy y = O_ω ∘ f ∘ I_{λ,ℓ,τ}(x).",
        "type": "object",
        "required": list(REQUIRED_FIELDS),
        "additionalProperties": False,
        "properties": {name: properties[name] for name in FIELDS},
    }


def build_schema() -> dict[str, Any]:
    """The Draft 2020-12 schema of ``data/papers.yaml``, built from ``taxonomy.py``.

    Tag values live once each under ``$defs`` (``#/$defs/location`` ...) and the paper schema
    under ``#/$defs/paper``, so the validator can check one entry at a time.
    """
    defs: dict[str, Any] = {}
    tag_fields: dict[str, dict[str, Any]] = {}
    value, field = _paradigm_defs()
    defs["paradigm"] = value
    tag_fields["paradigm"] = _one_or_many("#/$defs/paradigm", field)
    for axis in AXES:
        value, field = _axis_defs(axis)
        defs[axis.field] = value
        tag_fields[axis.field] = _one_or_many(f"#/$defs/{axis.field}", field)
    defs["paper"] = _paper_schema(tag_fields)
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": SCHEMA_ID,
        "title": "Neural network reprogrammability papers",
        "description": "data/papers.yaml: every paper on adapting a frozen model through its "
        "input and output interfaces, tagged on the four axes configuration (λ), location (ℓ), "
        "operator (τ) and output alignment (ω). Generated from scripts/reprogrammability/"
        "taxonomy.py by schema.py; do not edit by hand.",
        "type": "object",
        "required": ["papers"],
        "additionalProperties": False,
        "properties": {
            "papers": {
                "title": "Papers",
                "description": "Every paper in the database, one mapping each.",
                "type": "array",
                "items": {"$ref": "#/$defs/paper"},
            }
        },
        "$defs": defs,
    }


def paper_schema() -> dict[str, Any]:
    """A self-contained schema for one entry (the ``$defs`` travel with it for its ``$ref``s)."""
    full = build_schema()
    return {"$schema": SCHEMA_DRAFT, "$id": SCHEMA_ID + ":paper", "$defs": full["$defs"],
            "$ref": "#/$defs/paper"}


def schema_json() -> str:
    """The schema as stable text: insertion order kept, indent 2, UTF-8 symbols, final newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


# --- a fast acceptance check ---------------------------------------------------------------------
#
# jsonschema is the authority on what is valid, but it costs ~150 µs per entry: most of a second
# on 10,000 papers. ``compile_checker`` translates the keywords this schema uses into one Python
# expression (compiled once), which judges an entry in a few microseconds. It only ever *accepts*
# what jsonschema would accept; whatever it rejects, or cannot judge, goes to jsonschema and the
# detailed checks, so a gap in the translation costs speed, never correctness.

#: Keywords that carry no constraint.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "$comment"})
_SUPPORTED = frozenset({
    "type", "enum", "required", "properties", "additionalProperties", "items", "minItems",
    "uniqueItems", "pattern", "minimum", "maximum", "anyOf", "$ref",
})
_TYPE_EXPR = {
    "string": "isinstance({v}, str)",
    # jsonschema counts 2021.0 as an integer and True as no number at all.
    "integer": "((isinstance({v}, int) and not isinstance({v}, bool)) or "
    "(isinstance({v}, float) and {v}.is_integer()))",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "array": "isinstance({v}, list)",
    "object": "isinstance({v}, dict)",
    "boolean": "isinstance({v}, bool)",
    "null": "({v} is None)",
}


class _Unsupported(Exception):
    """A keyword or form the translation does not handle: jsonschema must judge."""


def _unique_strings(items: list[Any]) -> bool:
    # jsonschema's equality across types (1 == 1.0, True != 1) is subtle; strings are not.
    return all(isinstance(i, str) for i in items) and len(set(items)) == len(items)


class _ExprCompiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.names: dict[str, Any] = {"_unique_strings": _unique_strings, "_MISSING": object()}
        self.counter = 0

    def const(self, value: Any) -> str:
        self.counter += 1
        name = f"_c{self.counter}"
        self.names[name] = value
        return name

    def var(self) -> str:
        self.counter += 1
        return f"_v{self.counter}"

    def expr(self, schema: Any, v: str, depth: int = 0) -> str:
        if depth > 32 or not isinstance(schema, dict):
            raise _Unsupported(str(schema)[:80])
        if set(schema) - _ANNOTATIONS - _SUPPORTED:
            raise _Unsupported(", ".join(sorted(set(schema) - _ANNOTATIONS - _SUPPORTED)))
        parts: list[str] = []
        # Once "type" has been checked, the type guards of the other keywords are redundant.
        known = schema.get("type")
        if "type" in schema:
            if schema["type"] not in _TYPE_EXPR:
                raise _Unsupported(f"type {schema['type']!r}")
            parts.append(_TYPE_EXPR[schema["type"]].format(v=v))
        if "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise _Unsupported(ref)
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            parts.append(self.expr(target, v, depth + 1))
        if "enum" in schema:
            if not all(isinstance(e, str) for e in schema["enum"]):
                raise _Unsupported("enum with non-string values")
            parts.append(f"(isinstance({v}, str) and {v} in {self.const(frozenset(schema['enum']))})")
        if "pattern" in schema:
            search = self.const(re.compile(schema["pattern"]).search)
            guard = "" if known == "string" else f"not isinstance({v}, str) or "
            parts.append(f"({guard}{search}({v}) is not None)")
        if "minimum" in schema or "maximum" in schema:
            bounds = []
            if "minimum" in schema:
                bounds.append(f"{v} >= {self.const(schema['minimum'])}")
            if "maximum" in schema:
                bounds.append(f"{v} <= {self.const(schema['maximum'])}")
            number = _TYPE_EXPR["number"].format(v=v)
            guard = "" if known in ("integer", "number") else f"not {number} or "
            parts.append(f"({guard}({' and '.join(bounds)}))")
        guard = "" if known == "array" else f"not isinstance({v}, list) or "
        if "minItems" in schema:
            parts.append(f"({guard}len({v}) >= {int(schema['minItems'])})")
        if schema.get("uniqueItems"):
            parts.append(f"({guard}_unique_strings({v}))")
        if "items" in schema:
            item = self.var()
            inner = self.expr(schema["items"], item, depth + 1)
            parts.append(f"({guard}all({inner} for {item} in {v}))")
        if "anyOf" in schema:
            options = [self.expr(s, v, depth + 1) for s in schema["anyOf"]]
            parts.append("(" + " or ".join(options) + ")")
        if {"required", "properties", "additionalProperties"} & set(schema):
            parts.append(self.object_expr(schema, v, depth, guarded=known == "object"))
        return "(" + " and ".join(parts) + ")" if parts else "True"

    def object_expr(self, schema: dict[str, Any], v: str, depth: int, guarded: bool) -> str:
        extra = schema.get("additionalProperties", True)
        if extra is not True and extra is not False:
            raise _Unsupported("additionalProperties with a schema")
        props = schema.get("properties", {})
        checks = []
        if schema.get("required"):
            checks.append(f"{v}.keys() >= {self.const(frozenset(schema['required']))}")
        if extra is False:
            checks.append(f"{v}.keys() <= {self.const(frozenset(props))}")
        required = set(schema.get("required", ()))
        for name, sub in props.items():
            if name in required:  # presence already checked: index directly
                value = self.var()
                checks.append(f"(({value} := {v}[{name!r}]) is {value} and "
                              f"{self.expr(sub, value, depth + 1)})")
                continue
            value = self.var()
            checks.append(f"(({value} := {v}.get({name!r}, _MISSING)) is _MISSING or "
                          f"{self.expr(sub, value, depth + 1)})")
        body = " and ".join(checks) or "True"
        return f"({body})" if guarded else f"(not isinstance({v}, dict) or ({body}))"


def _never(_: Any) -> bool:
    return False


def compile_checker(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A predicate ``check(instance) -> bool`` that is True only where jsonschema says valid.

    Translates type, string enum, required, properties, additionalProperties (true/false),
    items, minItems, uniqueItems, pattern, minimum, maximum, anyOf and local ``$ref``. A schema
    using anything else yields a check that accepts nothing, handing every decision to
    jsonschema.
    """
    compiler = _ExprCompiler(schema)
    try:
        body = compiler.expr(schema, "x")
    except _Unsupported:
        return _never
    namespace = dict(compiler.names)
    # The source is generated from our own schema above, never from input data.
    code = compile(f"def check(x):\n    return bool({body})\n", "<schema checker>", "exec")
    exec(code, namespace)  # noqa: S102
    return namespace["check"]
