"""Name -> implementation registry for manipulations and alignments (timm-style).

Implementations register themselves with a decorator; the class attribute ``cell`` (manipulations)
or ``kind`` (alignments) says where they sit in the taxonomy, and is checked against
``reprogrammability.taxonomy`` at registration time so a typo fails at import, not in a paper test.

Defaults: ``default_manipulation(cell, modality)`` and ``default_alignment(kind, modality)`` name
the reference used for a taxonomy value. An implementation claims a default with
``default_for=("vision", "text")`` at registration; without a claim, the first registered
implementation of that cell/kind that supports the modality is used.

Metadata: an implementation may also declare what it reproduces, as timm's default configs do,
so catalogues read facts instead of parsing docstrings: ``papers=("zhou2022learning",)`` (paper ids
of ``data/papers.yaml``), ``fidelity="faithful"`` or ``"simplified"`` (the class docstring says what
differs), and ``config=SomeConfig`` (a dataclass of its settings; ``create_*`` then builds the
config from the keyword arguments, so a bad setting fails in its ``__post_init__`` with a message,
and the implementation is constructed as ``cls(adapter, config)``). ``manipulation_info(name)`` and
``alignment_info(name)`` return the record.

The implementations are imported lazily, on the first query, so ``import reference`` stays light
and never imports ``transformers``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from reprogrammability import taxonomy
from torch import nn

from .core import BACKBONE_FAMILIES, Alignment, Cell, Manipulation, Reprogrammed

_MANIPULATIONS: dict[str, type[Manipulation]] = {}
_ALIGNMENTS: dict[str, type[Alignment]] = {}
_DEFAULT_MANIPULATIONS: dict[tuple[Cell, str], str] = {}
_DEFAULT_ALIGNMENTS: dict[tuple[str, str], str] = {}
_LOADED = False

#: How closely an implementation follows its paper(s).
FIDELITIES = ("faithful", "simplified")
_PAPER_ID = re.compile(r"^[a-z][a-z0-9-]*\d{4}[a-z0-9-]*$")


@dataclass(frozen=True)
class MethodInfo:
    """What a registered implementation reproduces (empty for those registered without it)."""

    papers: tuple[str, ...] = ()  # paper ids (BibTeX keys of data/papers.yaml)
    fidelity: str | None = None  # one of FIDELITIES
    config: type | None = None  # dataclass of the constructor's settings


_MANIPULATION_INFO: dict[str, MethodInfo] = {}
_ALIGNMENT_INFO: dict[str, MethodInfo] = {}

#: Packages whose import registers implementations.
_IMPLEMENTATION_PACKAGES = ("reference.manipulations", "reference.alignments")

M = TypeVar("M", bound=type[Manipulation])
A = TypeVar("A", bound=type[Alignment])


def _check_modalities(owner: str, modalities: tuple[str, ...]) -> None:
    for m in modalities:
        if m not in BACKBONE_FAMILIES:
            raise ValueError(
                f"{owner}: unknown modality {m!r}; expected one of {', '.join(BACKBONE_FAMILIES)}"
            )


def _check_cell(owner: str, cell: Any) -> Cell:
    if not isinstance(cell, tuple) or len(cell) != len(taxonomy.MANIPULATION_AXES):
        raise ValueError(f"{owner}: cell must be a (λ, ℓ, τ) tuple, got {cell!r}")
    for axis, value in zip(taxonomy.MANIPULATION_AXES, cell):
        if value not in axis.keys:
            raise ValueError(
                f"{owner}: cell {axis.field} {value!r} is not a taxonomy value; expected one of "
                f"{', '.join(axis.keys)}"
            )
    return cell


def _method_info(
    owner: str, papers: tuple[str, ...], fidelity: str | None, config: type | None
) -> MethodInfo:
    papers = tuple(papers)
    for paper in papers:
        if not isinstance(paper, str) or not _PAPER_ID.match(paper):
            raise ValueError(f"{owner}: {paper!r} is not a paper id (e.g. 'zhou2022learning')")
    if fidelity is not None and fidelity not in FIDELITIES:
        raise ValueError(f"{owner}: fidelity {fidelity!r}; expected one of {', '.join(FIDELITIES)}")
    if config is not None and not dataclasses.is_dataclass(config):
        raise ValueError(f"{owner}: config must be a dataclass, got {config!r}")
    return MethodInfo(papers, fidelity, config)


def register_manipulation(
    name: str,
    *,
    default_for: tuple[str, ...] = (),
    papers: tuple[str, ...] = (),
    fidelity: str | None = None,
    config: type | None = None,
) -> Callable[[M], M]:
    """Register a :class:`Manipulation` subclass under ``name``.

    ``default_for`` lists the modalities for which it is the reference of its cell; ``papers``,
    ``fidelity`` and ``config`` are its :class:`MethodInfo`.
    """

    def decorator(cls: M) -> M:
        owner = f"manipulation {name!r} ({cls.__module__}.{cls.__qualname__})"
        cell = _check_cell(owner, getattr(cls, "cell", None))
        _check_modalities(owner, tuple(cls.modalities) + tuple(default_for))
        for modality in default_for:
            if modality not in cls.modalities:
                raise ValueError(f"{owner}: default_for {modality!r} but it does not support it")
        info = _method_info(owner, papers, fidelity, config)
        _claim(_MANIPULATIONS, _DEFAULT_MANIPULATIONS, name, cls, owner, cell,
               taxonomy.cell_label(cell), default_for)
        _MANIPULATION_INFO[name] = info
        return cls

    return decorator


def _claim(
    registry: dict[str, type], defaults: dict[tuple[Any, str], str], name: str, cls: type,
    owner: str, slot: Any, slot_label: str, default_for: tuple[str, ...],
) -> None:
    """Record ``cls`` under ``name`` and as the default of ``slot`` for each ``default_for``.

    Manipulations (slot: a cell) and alignments (slot: an ω value) follow the same rules: a
    name and a default are claimed once, and every conflict is checked before anything is
    recorded, so a refused registration leaves the registry as it was.
    """
    if name in registry and registry[name] is not cls:
        raise ValueError(f"{owner}: name already registered by {registry[name].__qualname__}")
    for modality in default_for:
        other = defaults.get((slot, modality))
        if other is not None and other != name:
            raise ValueError(
                f"{owner}: {modality} default of {slot_label} already claimed by {other!r}"
            )
    for modality in default_for:
        defaults[(slot, modality)] = name
    registry[name] = cls


def register_alignment(
    name: str,
    *,
    default_for: tuple[str, ...] = (),
    papers: tuple[str, ...] = (),
    fidelity: str | None = None,
    config: type | None = None,
) -> Callable[[A], A]:
    """Register an :class:`Alignment` subclass under ``name``; ``kind`` must be an ω value."""

    def decorator(cls: A) -> A:
        owner = f"alignment {name!r} ({cls.__module__}.{cls.__qualname__})"
        kind = getattr(cls, "kind", None)
        if kind not in taxonomy.ALIGNMENT.keys:
            raise ValueError(
                f"{owner}: kind {kind!r} is not a taxonomy value; expected one of "
                f"{', '.join(taxonomy.ALIGNMENT.keys)}"
            )
        _check_modalities(owner, tuple(cls.modalities) + tuple(default_for))
        info = _method_info(owner, papers, fidelity, config)
        _claim(_ALIGNMENTS, _DEFAULT_ALIGNMENTS, name, cls, owner, kind, kind, default_for)
        _ALIGNMENT_INFO[name] = info
        return cls

    return decorator


def _load() -> None:
    """Import the implementation packages once, so their decorators fill the registry."""
    global _LOADED
    if _LOADED:
        return
    for package in _IMPLEMENTATION_PACKAGES:
        importlib.import_module(package)
    _LOADED = True  # only once everything imported: a broken package fails every query, loudly


def list_manipulations(cell: Cell | None = None) -> list[str]:
    """Registered manipulation names, optionally only those of one (λ, ℓ, τ) cell."""
    _load()
    if cell is not None:
        _check_cell("list_manipulations", tuple(cell))
    return sorted(n for n, c in _MANIPULATIONS.items() if cell is None or c.cell == tuple(cell))


def list_alignments(kind: str | None = None) -> list[str]:
    """Registered alignment names, optionally only those of one ω value."""
    _load()
    if kind is not None and kind not in taxonomy.ALIGNMENT.keys:
        raise ValueError(f"list_alignments: unknown kind {kind!r}")
    return sorted(n for n, c in _ALIGNMENTS.items() if kind is None or c.kind == kind)


def get_manipulation(name: str) -> type[Manipulation]:
    _load()
    try:
        return _MANIPULATIONS[name]
    except KeyError:
        raise KeyError(
            f"unknown manipulation {name!r}; registered: {', '.join(sorted(_MANIPULATIONS))}"
        ) from None


def get_alignment(name: str) -> type[Alignment]:
    _load()
    try:
        return _ALIGNMENTS[name]
    except KeyError:
        raise KeyError(
            f"unknown alignment {name!r}; registered: {', '.join(sorted(_ALIGNMENTS))}"
        ) from None


def manipulation_info(name: str) -> MethodInfo:
    """Papers, fidelity and settings dataclass of a registered manipulation."""
    get_manipulation(name)
    return _MANIPULATION_INFO.get(name, MethodInfo())


def alignment_info(name: str) -> MethodInfo:
    """Papers, fidelity and settings dataclass of a registered alignment."""
    get_alignment(name)
    return _ALIGNMENT_INFO.get(name, MethodInfo())


def _construct(cls: type, info: MethodInfo, first: Any, *args: Any, **kwargs: Any) -> Any:
    """``cls(first, *args, config)`` given a settings dataclass, else ``cls(..., **kwargs)``."""
    if info.config is None:
        return cls(first, *args, **kwargs)
    return cls(first, *args, info.config(**kwargs))


def default_manipulation(cell: Cell, modality: str) -> str:
    """The reference implementation used for a cell on a ``"vision"`` or ``"text"`` backbone."""
    _load()
    cell = _check_cell("default_manipulation", tuple(cell))
    _check_modalities("default_manipulation", (modality,))
    name = _DEFAULT_MANIPULATIONS.get((cell, modality))
    if name is not None:
        return name
    for n, c in _MANIPULATIONS.items():
        if c.cell == cell and modality in c.modalities:
            return n
    raise KeyError(f"no {modality} manipulation registered for {taxonomy.cell_label(cell)}")


def default_alignment(kind: str, modality: str) -> str:
    """The reference implementation used for an ω value on a ``"vision"`` or ``"text"`` backbone."""
    _load()
    if kind not in taxonomy.ALIGNMENT.keys:
        raise ValueError(f"default_alignment: unknown kind {kind!r}")
    _check_modalities("default_alignment", (modality,))
    name = _DEFAULT_ALIGNMENTS.get((kind, modality))
    if name is not None:
        return name
    for n, c in _ALIGNMENTS.items():
        if c.kind == kind and modality in c.modalities:
            return n
    raise KeyError(f"no {modality} alignment registered for {kind}")


def create_manipulation(name: str, adapter_or_model: Any, **kwargs: Any) -> Manipulation:
    """Instantiate a registered manipulation for a model (or an adapter from ``backbones.adapt``)."""
    from .backbones import adapt

    cls = get_manipulation(name)
    adapter = adapt(adapter_or_model)
    if adapter.modality not in cls.modalities:
        raise ValueError(
            f"manipulation {name!r} supports {', '.join(cls.modalities)} backbones, not "
            f"{adapter.modality} ({type(adapter.model).__name__})"
        )
    if cls.needs_tokens and not adapter.supports_tokens:
        raise ValueError(
            f"manipulation {name!r} ({taxonomy.cell_label(cls.cell)}) needs a token-sequence "
            f"backbone (a timm ViT or a transformers model); {type(adapter.model).__name__} is not one"
        )
    manipulation = _construct(cls, manipulation_info(name), adapter, **kwargs)
    if cls.cell[0] == "fixed":
        trainable = [n for n, p in manipulation.named_parameters() if p.requires_grad]
        if trainable:
            raise ValueError(
                f"manipulation {name!r} is λ = fixed but has trainable parameters: {', '.join(trainable)}"
            )
    return manipulation


def create_alignment(name: str, num_source: int, num_target: int, **kwargs: Any) -> Alignment:
    """Instantiate a registered alignment mapping ``num_source`` logits to ``num_target`` classes."""
    return _construct(get_alignment(name), alignment_info(name), num_source, num_target, **kwargs)


def alignment_inputs(name: str, adapter: Any) -> int:
    """How many numbers per example alignment ``name`` reads from ``adapter``: the source logits,
    or, for an alignment that reads features (``reads = "features"``), the representation the
    model's output layer reads."""
    if get_alignment(name).reads == "features":
        return adapter.num_features
    return adapter.num_source


def build(
    manipulation: str,
    alignment: str,
    model: nn.Module,
    num_classes: int,
    **kwargs: Any,
) -> Reprogrammed:
    """Assemble ``O_ω ∘ f ∘ I`` by registry names.

    Keyword arguments: ``manipulation_kwargs`` and ``alignment_kwargs`` (dicts passed to the two
    constructors) and ``adapter_kwargs`` (passed to ``backbones.adapt``, e.g. ``input_size``).
    """
    from .backbones import adapt

    allowed = {"manipulation_kwargs", "alignment_kwargs", "adapter_kwargs"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"build: unexpected keyword(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
        )
    adapter = adapt(model, **(kwargs.get("adapter_kwargs") or {}))
    manip = create_manipulation(manipulation, adapter, **(kwargs.get("manipulation_kwargs") or {}))
    align = create_alignment(
        alignment,
        alignment_inputs(alignment, adapter),
        num_classes,
        **(kwargs.get("alignment_kwargs") or {}),
    )
    return Reprogrammed(model, manip, align, adapter=adapter)
