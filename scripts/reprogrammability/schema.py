"""The JSON Schemas of the collections, derived from field specs and ``taxonomy.py``.

Each collection (``collections.py``: papers, datasets, tools, resources, results) is described
once, as a tuple of :class:`Field` specs: a name, a *kind* (``text``, ``url``, ``tags``,
``refs`` ...), whether it is required, and for vocabulary fields the :class:`Vocab` read from
``taxonomy.py``. Three things are derived from that one description:

* the Draft 2020-12 schema, committed as ``schema/<collection>.schema.json`` (a YAML language
  server given it completes values and explains them on hover) and checked fresh by a test;
* the compiled acceptance check (:func:`compile_checker`) that lets ``repro validate`` skip
  jsonschema for valid entries;
* the validator's detailed checks (``validate.py`` dispatches on the field's kind), so a new
  field or a new collection needs no new validation code unless it brings a new kind.

Tag fields accept a single value or a non-empty list of distinct values, so the common case
stays a one-word line (``location: input``) and multi-valued entries need no second syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import arxiv_ids, taxonomy
from .taxonomy import AXES, PARADIGMS, Axis

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: An absolute URI that names the schema without claiming a host; tools only need it stable.
SCHEMA_ID = "urn:reprogrammability:schema:papers"

#: Years outside this range are typos (``20211``, ``221``), not papers.
YEAR_MIN = 1950
YEAR_MAX = 2100

#: arXiv ids, by the one rule ``repro add`` also applies (``arxiv_ids.py``).
ARXIV_PATTERN = arxiv_ids.PATTERN
DOI_PATTERN = r"^10\.\d{4,9}/\S+$"
#: http or https, the scheme in any case (``HTTPS://`` is the same scheme, RFC 3986).
URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^\s/]+\S*$"
#: Characters no text may hold, as regular-expression escapes (the schema file stays plain
#: ASCII): C0 and C1 controls (a raw BEL would reach the .bib) and the bidirectional controls
#: that reorder how the surrounding text displays (U+202E RIGHT-TO-LEFT OVERRIDE and its kin).
BIDI_CONTROLS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
FORBIDDEN_CHARS = r"\x00-\x1f\x7f-\x9f" + BIDI_CONTROLS
#: Names, titles and other one-line text: no forbidden character, no space at either end,
#: at least one character (an all-blank title is as empty as a missing one).
TEXT_PATTERN = rf"^[^\s{FORBIDDEN_CHARS}]([^{FORBIDDEN_CHARS}]*[^\s{FORBIDDEN_CHARS}])?$"
#: Notes may run over several lines (tabs and newlines), nothing else that is invisible.
NOTE_PATTERN = rf"^[^\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]*$"
#: No title, name or description is this long; a longer value is a paste gone wrong.
TEXT_MAX_LENGTH = 500
NOTE_MAX_LENGTH = 5000
#: Entry ids: lower-case ASCII letters, digits and hyphens, starting with a letter.
SLUG_PATTERN = r"^[a-z][a-z0-9-]*$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
COMMIT_PATTERN = r"^[0-9a-f]{7,40}$"
#: ``shots: full`` means the whole training set; otherwise an integer k for k-shot (0: zero-shot).
FULL_SHOTS = "full"

#: The tag fields in file order: the paradigm, then the four axes.
TAG_FIELDS: tuple[str, ...] = ("paradigm",) + tuple(a.field for a in AXES)
#: Paper facets after the tags: data domains, frozen backbones, target datasets.
FACET_FIELDS: tuple[str, ...] = ("domain", "backbones", "datasets")
REQUIRED_FIELDS: tuple[str, ...] = (
    "id", "title", "authors", "year", "venue", "url",
) + TAG_FIELDS
OPTIONAL_FIELDS: tuple[str, ...] = ("arxiv", "doi", "code") + FACET_FIELDS + ("note", "reference")
#: Every field a paper may have, in the order the docs and ``repro add`` write them.
FIELDS: tuple[str, ...] = (
    "id", "title", "authors", "year", "venue", "arxiv", "doi", "url", "code",
) + TAG_FIELDS + FACET_FIELDS + ("note", "reference")


# --- field specs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """A closed vocabulary: its ``$defs`` name, how messages call a value, and its values."""

    name: str
    noun: str  #: "a location value", "a backbone": what ``'x' is not ...`` says
    title: str
    description: str
    values: tuple[tuple[str, str], ...]  #: (key, one-line definition); definitions may be ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.values)


#: Field kinds (``Field.kind``), each with one JSON Schema form and one detailed check.
KINDS = frozenset({
    "slug", "text", "string", "url", "arxiv", "doi", "date", "commit", "year", "names",
    "tags", "choice", "choices", "ref", "refs", "int", "number", "shots", "object", "variant",
})


@dataclass(frozen=True)
class Field:
    """One field of an entry. ``kind`` picks the schema form and the validator's checks.

    ``vocab`` for ``tags``/``choice``/``choices``; ``ref`` (a collection name) for ``ref``/
    ``refs``, resolved during validation; ``fields`` for ``object``; ``variants`` for
    ``variant``: an object whose ``kind`` value selects which other fields it has.
    """

    name: str
    kind: str
    title: str
    description: str
    required: bool = False
    vocab: Vocab | None = None
    ref: str | None = None
    minimum: float | None = None
    fields: tuple[Field, ...] = ()
    variants: tuple[tuple[str, tuple[Field, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")

    def subfields(self, value: Any = None) -> tuple[Field, ...]:
        """Nested fields: an object's, or the variant selected by ``value['kind']``."""
        if self.kind == "object":
            return self.fields
        if self.kind == "variant" and isinstance(value, dict):
            return dict(self.variants).get(value.get("kind"), ())
        return ()


def reference_fields(fields: tuple[Field, ...]) -> list[tuple[tuple[str, ...], Field]]:
    """(path, field) of every ``ref``/``refs`` field, those inside objects and variants too."""
    out: list[tuple[tuple[str, ...], Field]] = []
    for f in fields:
        if f.ref is not None:
            out.append(((f.name,), f))
        nested = f.fields + tuple(sub for _, variant in f.variants for sub in variant)
        out += [((f.name, *path), sub) for path, sub in reference_fields(nested)]
    return list(dict.fromkeys(out))


def _axis_vocab(axis: Axis) -> Vocab:
    return Vocab(axis.field, f"{'an' if axis.field[0] in 'aeiou' else 'a'} {axis.field} value",
                 f"{axis.name} ({axis.symbol}) value", axis.question,
                 tuple((v.key, v.definition) for v in axis.values))


def _paradigm_vocab() -> Vocab:
    return Vocab("paradigm", "a paradigm", "Paradigm value",
                 "One of the three families the literature names.",
                 tuple((p.key, p.definition) for p in PARADIGMS))


def _plain_vocab(name: str, noun: str, title: str, description: str,
                 keys: tuple[str, ...], labels: dict[str, str] | None = None) -> Vocab:
    return Vocab(name, noun, title, description,
                 tuple((k, (labels or {}).get(k, "")) for k in keys))


def domain_vocab() -> Vocab:
    return _plain_vocab("domain", "a domain", "Domain value",
                        "A data modality, from taxonomy.DOMAINS.", taxonomy.DOMAIN_KEYS,
                        {d.key: d.label for d in taxonomy.DOMAINS})


def backbone_vocab() -> Vocab:
    return _plain_vocab("backbone", "a backbone", "Backbone",
                        "A frozen pre-trained model by its canonical name, from "
                        "taxonomy.BACKBONES.", taxonomy.BACKBONE_NAMES,
                        {b.name: f"{b.family} family, {b.modality}" for b in taxonomy.BACKBONES})


def metric_vocab() -> Vocab:
    return _plain_vocab("metric", "a metric", "Metric",
                        "An evaluation metric, from taxonomy.METRICS.", taxonomy.METRIC_NAMES,
                        {m.name: f"{m.description}; range {m.range_text}, "
                                 f"{'higher' if m.higher_is_better else 'lower'} is better"
                         for m in taxonomy.METRICS})


def _registry_vocab(name: str, noun: str, title: str, entries: dict[str, str]) -> Vocab:
    """Names from reference/catalog.json (generated by ``python -m reference.catalog``)."""
    return Vocab(name, noun, title, f"A {title.lower()} name registered in reference/ "
                 "(listed in reference/catalog.json).", tuple(sorted(entries.items())))


def reference_field() -> Field:
    """A paper's ``reference``: the registry implementations of its own method."""
    from . import refcatalog

    cat = refcatalog.load()
    manipulations = {n: " · ".join(c) for n, c in cat.manipulations.items()}
    presets = {n: f"{m} + {a}" for n, (m, a) in cat.presets.items()}
    return Field(
        "reference", "object", "Reference implementation",
        "The reference/ implementation of the paper's own method: registry names of its "
        "manipulation and alignment (their cell must be one of the paper's tag combinations), "
        "optionally a preset of the settings the paper fixes, and how closely it follows the "
        "paper.",
        fields=(
            Field("manipulation", "choice", "Manipulation", "Registry name of I_{λ,ℓ,τ}.",
                  required=True, vocab=_registry_vocab(
                      "reference-manipulation", "a registered manipulation", "Manipulation",
                      manipulations)),
            Field("alignment", "choice", "Alignment", "Registry name of O_ω.", required=True,
                  vocab=_registry_vocab("reference-alignment", "a registered alignment",
                                        "Alignment", dict(cat.alignments))),
            Field("preset", "choice", "Preset", "A named setting of the pair "
                  "(reference/presets.py), where the paper fixes settings.",
                  vocab=_registry_vocab("reference-preset", "a reference preset", "Preset",
                                        presets)),
            Field("fidelity", "choice", "Fidelity", "faithful: the paper's method as "
                  "published; simplified: the implementation's docstring says what differs.",
                  required=True, vocab=_plain_vocab(
                      "fidelity", "a fidelity", "Fidelity", "How closely the implementation "
                      "follows the paper.", refcatalog.FIDELITIES)),
        ),
    )


def _kind_vocab(name: str, what: str, keys: tuple[str, ...]) -> Vocab:
    return _plain_vocab(name, f"a {what} kind", f"{what.capitalize()} kind",
                        f"What sort of {what} this is.", keys)


# --- the collections' fields -----------------------------------------------------------------


def _id(what: str) -> Field:
    return Field("id", "slug", "Id", f"The {what}'s stable id: lower-case letters, digits and "
                 "hyphens, starting with a letter; unique in its file and never changed once "
                 "published (other entries, anchors and BibTeX keys use it).", required=True)


def _url(what: str, required: bool = True) -> Field:
    return Field("url", "url", "URL", f"Canonical page of the {what} (http or https).",
                 required=required)


def _description(what: str) -> Field:
    return Field("description", "text", "Description",
                 f"One plain sentence on the {what}, in the contributor's own words.",
                 required=True)


def _tags(name: str, vocab: Vocab, title: str, description: str) -> Field:
    return Field(name, "tags", title, description, required=True, vocab=vocab)


def _year(description: str, required: bool = True) -> Field:
    return Field("year", "year", "Year", description + " No later than next year (repro "
                 "validate checks it; the maximum here is a fixed sanity bound).",
                 required=required, minimum=YEAR_MIN)


def paper_fields() -> tuple[Field, ...]:
    """The paper entry, read from ``taxonomy`` at call time (a new axis value reaches it)."""
    paradigm = _paradigm_vocab()
    tag_fields = [_tags("paradigm", paradigm, "Paradigm", "The paradigm(s) the paper belongs "
                        "to: one value, or a list of distinct values when it spans several.")]
    for axis in AXES:
        tag_fields.append(_tags(axis.field, _axis_vocab(axis), f"{axis.name} ({axis.symbol})",
                                f"{axis.question} One value, or a list of distinct values when "
                                "the paper's methods use several."))
    domain = domain_vocab()
    return (
        _id("paper"),
        Field("title", "text", "Title", "The paper's title as published.", required=True),
        Field("authors", "names", "Authors",
              "Every author, in the paper's order, one name per item.", required=True),
        _year("Year of the version cited (conference year, else first arXiv version), as an "
              "unquoted integer."),
        Field("venue", "text", "Venue", "Conference, journal or 'arXiv' for preprints.",
              required=True),
        Field("arxiv", "arxiv", "arXiv id",
              "Quoted arXiv identifier, new style (\"2506.04650\") or old style "
              "(\"cs/0112017\"), optionally with a version (\"v2\"). Quote it: unquoted, YAML "
              "reads 2506.00620 as the number 2506.0062."),
        Field("doi", "doi", "DOI", "The DOI without a resolver prefix, e.g. 10.1145/3292500."),
        _url("paper"),
        Field("code", "url", "Code", "Official code repository (http or https)."),
        *tag_fields,
        Field("domain", "object", "Domain", "The data domain of the frozen model (source) and "
              "of the task it is reprogrammed for (target); each one value or a list.",
              fields=(
                  _tags("source", domain, "Source domain",
                        "What the frozen model was pre-trained on."),
                  _tags("target", domain, "Target domain", "What the paper adapts it to."),
              )),
        Field("backbones", "choices", "Backbones", "The frozen pre-trained models the paper's "
              "experiments use, by canonical name.", vocab=backbone_vocab()),
        Field("datasets", "refs", "Datasets", "Ids (data/datasets.yaml) of the target datasets "
              "the paper reports results on.", ref="datasets"),
        Field("note", "string", "Note", "Why the tags were chosen, and where judgement was "
              "needed."),
        reference_field(),
    )


def dataset_fields() -> tuple[Field, ...]:
    return (
        _id("dataset"),
        Field("name", "text", "Name", "The dataset's name as its authors write it.",
              required=True),
        Field("kind", "choice", "Kind", "dataset, or suite for a benchmark made of datasets.",
              required=True, vocab=_kind_vocab("dataset-kind", "dataset",
                                               taxonomy.DATASET_KINDS)),
        Field("domain", "choice", "Domain", "The dataset's data domain.", required=True,
              vocab=domain_vocab()),
        Field("task", "text", "Task", "The task it poses, e.g. image classification "
              "(10 classes).", required=True),
        _url("dataset's official"),
        Field("paper", "url", "Paper", "The paper or report that introduced it."),
        Field("license", "text", "License", "The licence, as the official page states it."),
        Field("members", "refs", "Members", "Suites only: ids of the member datasets.",
              ref="datasets"),
        _description("dataset"),
    )


def tool_fields() -> tuple[Field, ...]:
    return (
        _id("tool"),
        Field("name", "text", "Name", "The tool's name as its authors write it.",
              required=True),
        Field("kind", "choice", "Kind", "library, framework, or official code of a paper.",
              required=True, vocab=_kind_vocab("tool-kind", "tool", taxonomy.TOOL_KINDS)),
        _url("tool's repository or"),
        Field("language", "text", "Language", "The main programming language.", required=True),
        Field("license", "text", "License", "The licence, as the repository states it."),
        Field("implements", "refs", "Implements", "Ids (data/papers.yaml) of the papers whose "
              "methods it implements; omit it for general code that implements none of them.",
              ref="papers"),
        _description("tool"),
    )


def resource_fields() -> tuple[Field, ...]:
    return (
        _id("resource"),
        Field("title", "text", "Title", "The resource's title.", required=True),
        Field("authors", "names", "Authors", "The named authors or speakers, in order."),
        _year("Year it appeared, as an unquoted integer; omit it for a page without one.",
              required=False),
        Field("kind", "choice", "Kind", "What sort of resource it is.", required=True,
              vocab=_kind_vocab("resource-kind", "resource", taxonomy.RESOURCE_KINDS)),
        _url("resource"),
        Field("venue", "text", "Venue", "Where it appeared: a conference, course page, blog."),
        Field("level", "int", "Level", "Reading order for the learning path: 1 = read first.",
              required=True, minimum=1),
        _description("resource"),
    )


def result_fields() -> tuple[Field, ...]:
    cell = tuple(Field(a.field, "choice", f"{a.name} ({a.symbol})", a.question, required=True,
                       vocab=_axis_vocab(a)) for a in AXES)
    source_kind = _kind_vocab("source-kind", "source", taxonomy.SOURCE_KINDS)
    kind = Field("kind", "choice", "Kind", "reported (a paper's table) or reproduced (a run "
                 "of this repository's code).", required=True, vocab=source_kind)
    reported, reproduced = taxonomy.SOURCE_KINDS
    return (
        Field("paper", "ref", "Paper", "Id (data/papers.yaml) of the paper: for a reported "
              "number the paper whose table it is (required); for a reproduced one the paper "
              "whose method was run, omitted when the run is no paper's method.", ref="papers"),
        Field("method", "text", "Method", "The method as the paper (or the experiment) names "
              "it.", required=True),
        Field("cell", "object", "Cell", "The method's place in the taxonomy; with a paper, one "
              "of the paper's tag combinations. Omitted only for a baseline (linear probe, "
              "fine-tuning, another paper's method re-run) or a variant outside the paper's "
              "tags, which then says what it is in note.", fields=cell),
        Field("backbone", "choice", "Backbone", "The frozen model, by canonical name.",
              required=True, vocab=backbone_vocab()),
        Field("pretraining", "text", "Pre-training", "What the backbone was pre-trained on, as "
              "stated.", required=True),
        Field("dataset", "ref", "Dataset", "Id (data/datasets.yaml) of the target dataset.",
              required=True, ref="datasets"),
        Field("split", "text", "Split", "The evaluation split, e.g. test.", required=True),
        Field("shots", "shots", "Shots", f"'{FULL_SHOTS}' for the whole training set, or an "
              "integer k for k-shot (0 for zero-shot: no labelled target example).",
              required=True),
        Field("metric", "choice", "Metric", "The metric, whose range the value must respect.",
              required=True, vocab=metric_vocab()),
        Field("value", "number", "Value", "The number as the source prints it.", required=True),
        Field("std", "number", "Standard deviation", "Only when the source gives it.",
              minimum=0),
        Field("seeds", "int", "Seeds", "Number of runs, only when the source states it.",
              minimum=1),
        Field("params", "number", "Trainable parameters", "Trainable parameters as a number "
              "(100000, not 0.1M), only when the source gives it.", minimum=0),
        Field("source", "variant", "Source", "Where the number comes from.", required=True,
              variants=(
                  (reported, (
                      kind,
                      Field("where", "text", "Where", "The table or figure, e.g. Table 2.",
                            required=True),
                      Field("url", "url", "URL", "The version of the paper read.",
                            required=True),
                  )),
                  (reproduced, (
                      kind,
                      Field("command", "text", "Command", "The command that produced it.",
                            required=True),
                      Field("commit", "commit", "Commit", "The repository commit it ran at.",
                            required=True),
                      Field("machine", "text", "Machine", "The hardware it ran on.",
                            required=True),
                      Field("date", "date", "Date", "The day it ran, \"YYYY-MM-DD\" (quoted).",
                            required=True),
                  )),
              )),
        Field("note", "string", "Note", "Anything a reader needs to compare the number: the "
              "protocol, what the row of the table is, where judgement was needed."),
    )


# --- JSON Schema -------------------------------------------------------------------------------


def _value_list(pairs: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f"- {key}: {definition}" if definition else f"- {key}"
                     for key, definition in pairs)


def _vocab_def(vocab: Vocab) -> dict[str, Any]:
    return {
        "title": vocab.title,
        "description": f"{vocab.description}\n\n" + _value_list(vocab.values),
        "enum": list(vocab.keys),
    }


def _string(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern}


def _text() -> dict[str, Any]:
    return {**_string(TEXT_PATTERN), "maxLength": TEXT_MAX_LENGTH}


def _unique_list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": items}


def field_schema(f: Field, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one field; vocabularies are added to ``defs`` and referenced."""
    head: dict[str, Any] = {"title": f.title, "description": f.description}
    ref: dict[str, Any] = {}
    if f.vocab is not None:
        defs.setdefault(f.vocab.name, _vocab_def(f.vocab))
        ref = {"$ref": f"#/$defs/{f.vocab.name}"}
    kind = f.kind
    if kind == "text":
        return {**head, **_text()}
    if kind in ("slug", "url", "arxiv", "doi", "date", "commit", "ref"):
        pattern = { "slug": SLUG_PATTERN, "url": URL_PATTERN,
                   "arxiv": ARXIV_PATTERN, "doi": DOI_PATTERN, "date": DATE_PATTERN,
                   "commit": COMMIT_PATTERN, "ref": SLUG_PATTERN}[kind]
        return {**head, **_string(pattern)}
    if kind == "string":
        return {**head, **_string(NOTE_PATTERN), "maxLength": NOTE_MAX_LENGTH}
    if kind == "year":
        return {**head, "type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX}
    if kind in ("int", "number"):
        bound = {} if f.minimum is None else {"minimum": f.minimum}
        return {**head, "type": "integer" if kind == "int" else "number", **bound}
    if kind == "names":
        return {**head, "type": "array", "minItems": 1, "items": _text()}
    if kind == "tags":
        return {**head, "anyOf": [ref, _unique_list(ref)]}
    if kind == "choice":
        return {**head, **ref}
    if kind == "choices":
        return {**head, **_unique_list(ref)}
    if kind == "refs":
        return {**head, **_unique_list(_string(SLUG_PATTERN))}
    if kind == "shots":
        return {**head, "anyOf": [{"enum": [FULL_SHOTS]}, {"type": "integer", "minimum": 0}]}
    if kind == "object":
        return {**head, **object_schema(f.fields, defs)}
    # variant: one closed object per value of its ``kind`` field
    options = []
    for value, fields in f.variants:
        body = object_schema(fields, defs)
        body["properties"]["kind"] = {"enum": [value]}
        options.append(body)
    return {**head, "anyOf": options}


def object_schema(fields: tuple[Field, ...], defs: dict[str, Any]) -> dict[str, Any]:
    """A closed object with ``fields`` in order, the required ones listed."""
    return {
        "type": "object",
        "required": [f.name for f in fields if f.required],
        "additionalProperties": False,
        "properties": {f.name: field_schema(f, defs) for f in fields},
    }


def collection_schema(name: str, title: str, description: str, key: str, record: str,
                      record_title: str, record_description: str,
                      fields: tuple[Field, ...]) -> dict[str, Any]:
    """A collection file's schema: ``{key: [record, ...]}``, the record under ``$defs``.

    Vocabularies live once each under ``$defs`` (``#/$defs/location`` ...) and the record
    schema under ``#/$defs/<record>``, so the validator can check one entry at a time.
    """
    defs: dict[str, Any] = {}
    entry = object_schema(fields, defs)
    defs[record] = {"title": record_title, "description": record_description, **entry}
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": f"urn:reprogrammability:schema:{name}",
        "title": title,
        "description": description,
        "type": "object",
        "required": [key],
        "additionalProperties": False,
        "properties": {
            key: {
                "title": key.capitalize(),
                "description": f"Every {record} of {description.split(':', 1)[0]}, one mapping "
                "each.",
                "type": "array",
                "items": {"$ref": f"#/$defs/{record}"},
            }
        },
        "$defs": defs,
    }


def entry_schema(full: dict[str, Any], record: str) -> dict[str, Any]:
    """A self-contained schema for one entry (the ``$defs`` travel with it for its ``$ref``s)."""
    return {"$schema": SCHEMA_DRAFT, "$id": full["$id"] + ":" + record, "$defs": full["$defs"],
            "$ref": f"#/$defs/{record}"}


def to_json(schema: dict[str, Any]) -> str:
    """A schema as stable text: insertion order kept, indent 2, UTF-8 symbols, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


# --- the papers schema, as before (collections.py builds the others the same way) ---------------


def tag_vocabulary() -> dict[str, tuple[str, ...]]:
    """Tag field -> its admissible values, straight from ``taxonomy.py``."""
    return {f.name: f.vocab.keys for f in paper_fields() if f.kind == "tags" and f.vocab}


PAPERS_TITLE = "Neural network reprogrammability papers"
PAPERS_DESCRIPTION = (
    "data/papers.yaml: every paper on adapting a frozen model through its input and output "
    "interfaces, tagged on the four axes configuration (λ), location (ℓ), operator (τ) and "
    "output alignment (ω). Generated from scripts/reprogrammability/taxonomy.py by schema.py; "
    "do not edit by hand."
)
PAPER_DESCRIPTION = "One paper and its place in the taxonomy y = O_ω ∘ f ∘ I_{λ,ℓ,τ}(x)."


def build_schema() -> dict[str, Any]:
    """The Draft 2020-12 schema of ``data/papers.yaml``, built from ``taxonomy.py``."""
    return collection_schema("papers", PAPERS_TITLE, PAPERS_DESCRIPTION, "papers", "paper",
                             "Paper", PAPER_DESCRIPTION, paper_fields())


def paper_schema() -> dict[str, Any]:
    """A self-contained schema for one paper."""
    return entry_schema(build_schema(), "paper")


def schema_json() -> str:
    """The papers schema as stable text (``schema/papers.schema.json``)."""
    return to_json(build_schema())


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
    "uniqueItems", "pattern", "minimum", "maximum", "anyOf", "$ref", "maxLength",
})
_TYPE_EXPR = {
    "string": "isinstance({v}, str)",
    # jsonschema counts 2021.0 as an integer; YAML's 2021.0 is a slip that the detailed checks
    # report, so it is left to them (stricter here is allowed: this check may only accept less).
    # True is no number at all.
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
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
        if "maxLength" in schema:
            guard = "" if known == "string" else f"not isinstance({v}, str) or "
            parts.append(f"({guard}len({v}) <= {int(schema['maxLength'])})")
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
    items, minItems, maxLength, uniqueItems, pattern, minimum, maximum, anyOf and local
    ``$ref``. A schema using anything else yields a check that accepts nothing, handing every decision to
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
