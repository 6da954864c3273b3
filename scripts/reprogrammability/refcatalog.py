"""The reference implementations as the curation tools see them: ``reference/catalog.json``.

``python -m reference.catalog`` writes that file from the registry (a test keeps it fresh); this
module reads it without importing torch, so ``repro validate`` can check a paper's ``reference``
field (registry names, preset, whether its cell is one of the paper's tag combinations) and the
renderer can say what runs for each paper: its own reference, or the stand-in of its cell.

A missing or unreadable catalogue reads as empty: every reference name is then unknown, which
validation reports at the paper's line instead of failing with a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .taxonomy import MANIPULATION_AXES

#: The catalogue in this checkout (scripts/reprogrammability/ -> repository root).
CATALOG_PATH = Path(__file__).resolve().parents[2] / "reference" / "catalog.json"
FIDELITIES = ("faithful", "simplified")
_CELL_FIELDS = tuple(a.field for a in MANIPULATION_AXES)


@dataclass(frozen=True)
class RefCatalog:
    """Registry names with their place in the taxonomy, presets and per-cell defaults."""

    #: manipulation name -> (λ, ℓ, τ)
    manipulations: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: alignment name -> ω
    alignments: dict[str, str] = field(default_factory=dict)
    #: name -> what the registry records (modalities, papers, fidelity)
    manipulation_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    alignment_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: preset name -> (manipulation, alignment)
    presets: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: "λ · ℓ · τ" -> {"vision": name, "text": name}; ω -> {...}
    default_manipulations: dict[str, dict[str, str]] = field(default_factory=dict)
    default_alignments: dict[str, dict[str, str]] = field(default_factory=dict)

    def cell(self, manipulation: str, alignment: str) -> tuple[str, str, str, str] | None:
        """(λ, ℓ, τ, ω) of a pair of names, or None when either is unknown."""
        m, a = self.manipulations.get(manipulation), self.alignments.get(alignment)
        return None if m is None or a is None else (*m, a)


@lru_cache(maxsize=4)
def load(path: Path = CATALOG_PATH) -> RefCatalog:
    """The catalogue at ``path`` (empty when the file is missing or not the expected JSON)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manipulations = {n: tuple(v["cell"][f] for f in _CELL_FIELDS)
                         for n, v in data["manipulations"].items()}
        alignments = {n: v["alignment"] for n, v in data["alignments"].items()}
        presets = {n: (v["manipulation"], v["alignment"]) for n, v in data["presets"].items()}
        return RefCatalog(manipulations, alignments, dict(data["manipulations"]),
                          dict(data["alignments"]), presets,
                          dict(data["defaults"]["manipulation"]),
                          dict(data["defaults"]["alignment"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return RefCatalog()


def _call(function: str, *names: str) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"reference.{function}({quoted}, model, num_classes)"


def runnable(reference: Any) -> str:
    """The call that builds a paper's own reference (a preset's, when it names one)."""
    if reference.preset:
        return _call("build_preset", reference.preset)
    return _call("build", reference.manipulation, reference.alignment)


def stand_in(combination: tuple[str, str, str, str], modality: str,
             catalog: RefCatalog | None = None) -> str | None:
    """The call that builds the cell defaults for one (λ, ℓ, τ, ω) on a ``vision``/``text``
    backbone, or None when the catalogue lacks them."""
    catalog = catalog or load()
    manipulation = catalog.default_manipulations.get(" · ".join(combination[:3]), {}).get(modality)
    alignment = catalog.default_alignments.get(combination[3], {}).get(modality)
    if manipulation is None or alignment is None:
        return None
    return _call("build", manipulation, alignment)
