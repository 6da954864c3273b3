"""GitHub issue forms generated from the taxonomy, and the parser for the bodies they produce.

A "suggest a paper" form whose dropdowns were typed by hand would drift from ``taxonomy.py`` the
first time a value is added; so the forms are rendered here from the same vocabulary as the
schema and the README, and ``repro build --check`` fails when a committed form is stale.

GitHub turns a submitted form into a markdown body: one ``### <label>`` heading per field, the
answer below it, ``_No response_`` for an empty optional field, and a multi-select dropdown's
choices joined by ``", "``. :func:`parse_body` reads such a body back. The body is untrusted text
(anyone can open an issue, and edit it afterwards to anything at all), so the parser never
raises: it returns the answers it could check and a list of problems, caps the size it reads,
accepts only values from the taxonomy and only arXiv ids or arxiv.org URLs, and refuses
duplicate or missing headings instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from .taxonomy import AXES, PARADIGMS

SUGGEST_FORM = ".github/ISSUE_TEMPLATE/suggest-paper.yml"
WRONG_TAG_FORM = ".github/ISSUE_TEMPLATE/report-wrong-tag.yml"
#: The label the suggestion form puts on its issues; the issue-to-PR workflow acts on it.
SUGGEST_LABEL = "paper-suggestion"
NO_RESPONSE = "_No response_"
#: A body larger than this is not a form GitHub produced; refuse it rather than parse it.
MAX_BODY = 20_000
MAX_NOTE = 2_000

#: (form field id, heading label, help) of the paper identifier.
PAPER_FIELD = ("paper", "arXiv id or URL",
               "The arXiv id (2211.11635) or its arxiv.org URL. Papers without an arXiv version: "
               "open a pull request adding the entry by hand (see CONTRIBUTING.md).")
CODE_FIELD = ("code", "Official code (optional)", "The authors' own repository, if there is one.")
NOTE_FIELD = ("note", "Why these tags", "One or two sentences on what the method manipulates and "
              "how outputs are mapped: reviewers read this first.")


@dataclass(frozen=True)
class TagField:
    """A multi-select dropdown for one tag field: paradigm or one of the four axes."""

    key: str  #: the field name in data/papers.yaml
    label: str  #: the heading GitHub writes in the body
    description: str
    options: tuple[str, ...]


def tag_fields() -> tuple[TagField, ...]:
    fields = [TagField("paradigm", "Paradigm", "The family the paper belongs to.",
                       tuple(p.key for p in PARADIGMS))]
    for axis in AXES:
        fields.append(TagField(axis.field, f"{axis.name} ({axis.symbol})", axis.question,
                               axis.keys))
    return tuple(fields)


def _dump(form: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(form, sort_keys=False, allow_unicode=True, width=100)
    return f"# {header}\n# Generated from scripts/reprogrammability/taxonomy.py by `repro build`; " \
           "do not edit.\n" + body


def suggest_form() -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "markdown", "attributes": {"value": (
            "Suggest a paper for the map. Include it only if the pre-trained model stays frozen "
            "and the method manipulates an interface (input, embeddings, hidden states) and/or "
            "maps the outputs. A workflow fetches the arXiv metadata, adds the entry with your "
            "tags and opens a pull request, or replies here with what needs fixing.")}},
        {"type": "input", "id": PAPER_FIELD[0],
         "attributes": {"label": PAPER_FIELD[1], "description": PAPER_FIELD[2],
                        "placeholder": "2211.11635"},
         "validations": {"required": True}},
    ]
    for tag in tag_fields():
        body.append({"type": "dropdown", "id": tag.key,
                     "attributes": {"label": tag.label, "description": tag.description
                                    + " Choose several only when the paper's method spans them.",
                                    "multiple": True, "options": list(tag.options)},
                     "validations": {"required": True}})
    body.append({"type": "input", "id": CODE_FIELD[0],
                 "attributes": {"label": CODE_FIELD[1], "description": CODE_FIELD[2]}})
    body.append({"type": "textarea", "id": NOTE_FIELD[0],
                 "attributes": {"label": NOTE_FIELD[1], "description": NOTE_FIELD[2]},
                 "validations": {"required": True}})
    return {"name": "Suggest a paper",
            "description": "Add a paper to the map with its taxonomy tags.",
            "title": "Suggest: ", "labels": [SUGGEST_LABEL], "body": body}


def wrong_tag_form() -> dict[str, Any]:
    fields = tag_fields()
    values = sorted({f"{t.key}: {o}" for t in fields for o in t.options},
                    key=lambda s: ([t.key for t in fields].index(s.split(":")[0]), s))
    return {
        "name": "Report a wrong tag",
        "description": "A paper in the map is tagged with a value its method does not have.",
        "title": "Wrong tag: ", "labels": ["wrong-tag"],
        "body": [
            {"type": "input", "id": "paper",
             "attributes": {"label": "Paper", "description": "Its id (e.g. elsayed2019adversarial),"
                            " arXiv id or title as listed."},
             "validations": {"required": True}},
            {"type": "dropdown", "id": "field",
             "attributes": {"label": "Which field is wrong",
                            "options": [t.key for t in fields]},
             "validations": {"required": True}},
            {"type": "dropdown", "id": "proposed",
             "attributes": {"label": "What it should be", "multiple": True,
                            "description": "Every value the field should have.",
                            "options": values},
             "validations": {"required": True}},
            {"type": "textarea", "id": "evidence",
             "attributes": {"label": "Evidence", "description": "Quote or cite the section of "
                            "the paper that shows it."},
             "validations": {"required": True}},
        ],
    }


def form_outputs() -> dict[str, str]:
    """The committed form files, relative path -> text (checked fresh by ``repro build``)."""
    return {
        SUGGEST_FORM: _dump(suggest_form(), "Issue form: suggest a paper."),
        WRONG_TAG_FORM: _dump(wrong_tag_form(), "Issue form: report a wrong tag."),
        ".github/ISSUE_TEMPLATE/config.yml": _dump(
            {"blank_issues_enabled": True}, "Issue chooser: the forms above, or a blank issue."),
    }


# -- parsing a submitted body ---------------------------------------------------------------------

@dataclass
class Suggestion:
    """A suggest-a-paper body, read back: checked answers and everything wrong with it."""

    arxiv: str | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    code: str | None = None
    note: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.arxiv is not None


_HEADING = re.compile(r"^###[ \t]+(.+?)[ \t]*$")
#: Control and bidirectional-override characters: invisible, and able to disguise text.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")
_CODE_URL = re.compile(r"^https://(github\.com|gitlab\.com|huggingface\.co|bitbucket\.org)/"
                       r"[A-Za-z0-9._~-]+/[A-Za-z0-9._~-]+/?$")


def _sections(body: str, labels: set[str], problems: list[str]) -> dict[str, str]:
    """Heading label -> answer text, for the form's own headings only."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        m = _HEADING.match(line)
        if m and m.group(1) in labels:
            if m.group(1) in found:
                problems.append(f"the heading '### {m.group(1)}' appears twice; edit the issue so "
                                "each question is answered once")
                current = None
                continue
            current = found.setdefault(m.group(1), [])
        elif current is not None:
            current.append(line)
    return {label: "\n".join(lines).strip() for label, lines in found.items()}


def parse_body(body: object) -> Suggestion:
    """Read a suggest-a-paper issue body. Never raises; problems are plain sentences."""
    from .arxiv import normalize_id

    out = Suggestion()
    if not isinstance(body, str) or not body.strip():
        out.problems.append("the issue body is empty; use the 'Suggest a paper' form")
        return out
    if len(body) > MAX_BODY:
        out.problems.append(f"the issue body is {len(body)} characters, more than the form can "
                            f"produce ({MAX_BODY}); not read")
        return out
    body = unicodedata.normalize("NFC", body.replace("\r\n", "\n").replace("\r", "\n"))
    tags = tag_fields()
    labels = {PAPER_FIELD[1], CODE_FIELD[1], NOTE_FIELD[1]} | {t.label for t in tags}
    sections = _sections(body, labels, out.problems)

    def answer(label: str, required: bool) -> str | None:
        text = sections.get(label)
        if text is None:
            if required:
                out.problems.append(f"'{label}' is missing; use the 'Suggest a paper' form")
            return None
        if not text or text == NO_RESPONSE:
            if required:
                out.problems.append(f"'{label}' has no answer")
            return None
        if _UNSAFE.search(text):
            out.problems.append(f"'{label}' contains control or invisible direction characters")
            return None
        return text

    paper = answer(PAPER_FIELD[1], True)
    if paper is not None:
        if "\n" in paper or len(paper) > 200:
            out.problems.append(f"'{PAPER_FIELD[1]}' must be one arXiv id or URL")
        else:
            try:
                out.arxiv = normalize_id(paper)[0]
            except ValueError as exc:
                out.problems.append(f"'{PAPER_FIELD[1]}': {exc}")
    for tag in tags:
        text = answer(tag.label, True)
        if text is None:
            continue
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in tag.options]
        if unknown or not values:
            shown = ", ".join(repr(v[:40]) for v in unknown[:3]) or "nothing"
            out.problems.append(f"'{tag.label}': {shown} is not one of "
                                f"{', '.join(tag.options)}")
            continue
        out.tags[tag.key] = list(dict.fromkeys(values))
    code = answer(CODE_FIELD[1], False)
    if code is not None:
        if _CODE_URL.match(code):
            out.code = code.rstrip("/")
        else:
            out.problems.append(f"'{CODE_FIELD[1]}' must be a repository URL on GitHub, GitLab, "
                                "Hugging Face or Bitbucket (https://github.com/OWNER/REPO)")
    note = answer(NOTE_FIELD[1], True)
    if note is not None:
        note = " ".join(note.split())
        if len(note) > MAX_NOTE:
            out.problems.append(f"'{NOTE_FIELD[1]}' is longer than {MAX_NOTE} characters")
        else:
            out.note = note
    return out
