"""The one rule for what an arXiv identifier can be, shared by the validator and ``repro add``.

Two spellings exist, as arXiv's own site code parses them (arXiv/arxiv-browse,
``browse/domain/identifier.py``):

* new style, from April 2007: ``YYMM.NNNN`` up to December 2014, ``YYMM.NNNNN`` from January
  2015 on, so ``1809.1829`` (four digits in 2018) and ``1412.12345`` cannot exist;
* old style, 1991 to March 2007: ``archive[.SUBJECT]/YYMMNNN`` (``hep-th/9901001``,
  ``math.GT/0309136``, ``cond-mat.str-el/0207270``).

Either may carry a version, ``v1`` or later. The month is 01-12 in both. The same rule is written
twice, on purpose and side by side: :func:`parse` explains what is wrong with an id in words,
and :data:`PATTERN` states it as a regular expression for the JSON Schema (and the validator's
fast acceptance check). ``tests/test_hardening.py`` checks that the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEW = re.compile(r"(?P<yy>\d{2})(?P<mm>\d{2})\.(?P<number>\d+)(?:v(?P<version>\d+))?")
_OLD = re.compile(
    r"(?P<archive>[a-z]+(?:-[a-z]+)*)(?P<subject>\.[A-Za-z]+(?:-[A-Za-z]+)?)?"
    r"/(?P<number>(?P<yy>\d{2})(?P<mm>\d{2})\d{3})(?:v(?P<version>\d+))?"
)

_MONTH = r"(0[1-9]|1[0-2])"
_VERSION = r"(v[1-9][0-9]*)?"
#: New-style ids with four digits (0704-1412) or five (1501 on), old-style ids 1991-2007.
PATTERN = (
    r"^((07(0[4-9]|1[0-2])|(0[89]|1[0-4])" + _MONTH + r")\.[0-9]{4}"
    r"|(1[5-9]|[2-9][0-9])" + _MONTH + r"\.[0-9]{5}"
    r"|[a-z]+(-[a-z]+)*(\.[A-Za-z]+(-[A-Za-z]+)?)?/(9[1-9]|0[0-7])" + _MONTH + r"[0-9]{3})"
    + _VERSION + "$"
)

#: An arxiv.org page of a paper: abstract, PDF, HTML or format page, any version.
URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)/(?P<rest>.+?)"
    r"(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)

EXAMPLES = 'e.g. "2506.04650" (new style) or "cs/0112017" (old style, also with a subject ' \
    'class: "math.GT/0309136"), optionally with a version: "2506.04650v2"'


@dataclass(frozen=True)
class ArxivId:
    base: str  #: without version; old-style ids without their subject class (math/0309136)
    version: int | None


def parse(text: str) -> ArxivId:
    """The id ``text`` spells exactly, or ``ValueError`` saying why it cannot exist."""
    m = _NEW.fullmatch(text)
    if m:
        yymm, digits = int(m.group("yy") + m.group("mm")), len(m.group("number"))
        _check_month(m.group("mm"))
        if yymm < 704:
            raise ValueError("new-style ids (YYMM.NNNN) start in 0704; older papers have "
                             "old-style ids such as cs/0112017")
        if yymm >= 1501 and digits != 5:
            raise ValueError(f"ids from 1501 on have five digits after the dot "
                             f"({m.group('yy')}{m.group('mm')}.NNNNN)")
        if yymm < 1501 and digits != 4:
            raise ValueError(f"ids before 1501 have four digits after the dot "
                             f"({m.group('yy')}{m.group('mm')}.NNNN)")
        base = text.split("v")[0]
    else:
        m = _OLD.fullmatch(text)
        if not m:
            raise ValueError(f"expected {EXAMPLES}")
        _check_month(m.group("mm"))
        if not (int(m.group("yy")) >= 91 or int(m.group("yy")) <= 7):
            raise ValueError("old-style ids (archive/YYMMNNN) run from 1991 to 2007")
        base = f"{m.group('archive')}/{m.group('number')}"
    version = m.group("version")
    if version is not None and version.startswith("0"):
        raise ValueError("versions are numbered from v1, without leading zeros")
    return ArxivId(base, int(version) if version is not None else None)


def _check_month(mm: str) -> None:
    if not 1 <= int(mm) <= 12:
        raise ValueError(f"month {mm} in YYMM does not exist")


def problem(text: str) -> str | None:
    """Why ``text`` is not an arXiv id, or None when it is one."""
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def from_url(url: str) -> ArxivId | None:
    """The paper an arxiv.org URL points at (``.../abs/1809.01829v2``), or None for any other
    URL (or an arxiv.org URL naming no valid id)."""
    m = URL.match(url.strip())
    if m is None:
        return None
    try:
        return parse(m.group("rest"))
    except ValueError:
        return None
