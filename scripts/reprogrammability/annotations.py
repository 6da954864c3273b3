"""GitHub Actions workflow commands (``::error file=F,line=N,title=T::message``), escaped once.

Every tool here that pins a problem to a file and line in a pull request prints one of these.
The text comes from contributors and from web servers (file names, URLs, reasons), so it must be
escaped by the runner's rules or it can end the command early, drop the rest of the message, or
inject properties: in the message ``%``, CR and LF are percent-encoded; in a property value
``:`` and ``,`` as well, since they separate the command from its message and the properties
from each other. One function, used by ``repro validate``/``render`` and ``repro links``, so the
rules are written (and tested) in one place.
"""

from __future__ import annotations

LEVELS = frozenset({"error", "warning", "notice"})


def escape_data(text: str) -> str:
    """A message made safe for a workflow command (``%``, CR, LF percent-encoded)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value made safe: the message's escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, **properties: object) -> str:
    """``::level k=v,k=v::message`` with every part escaped; properties that are None or empty
    are left out (``line=0`` too: the whole file)."""
    if level not in LEVELS:
        raise ValueError(f"annotation level must be one of {sorted(LEVELS)}, not {level!r}")
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value not in (None, "", 0)
    )
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"
