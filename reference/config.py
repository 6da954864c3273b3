"""Training configuration: one YAML file per method, plus ``--override key=value`` on the CLI.

A config names the frozen model (a timm name), the manipulation and the alignment by their
registry names, the data and the optimisation settings. It is parsed into a typed
:class:`TrainConfig` up front so that a typo fails *before* a model is built or a file is
written, with a message that names the file, the line and the field (``ConfigError``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", "constant")
AMP_MODES = ("none", "bf16", "fp16")
DATA_TYPES = ("imagefolder", "tensors", "jsonl", "csv")
TEXT_DATA_TYPES = ("jsonl", "csv")
BACKBONES = ("timm", "transformers", "clip")
TEXT_HEADS = ("masked-lm", "causal-lm", "features")
EVAL_MODES = ("logits", "generate")
#: How parameters are updated: back-propagation into ``optimizer``, or zeroth-order SPSA-GC
#: (``reference.zeroth_order``; ``update_kwargs`` are its ``SPSAConfig`` fields).
UPDATES = ("backprop", "spsa")


class ConfigError(ValueError):
    """A bad config value; ``str(err)`` is ``path:line:col: field: message``."""

    def __init__(self, path: str, line: int, col: int, field_name: str, message: str) -> None:
        self.path, self.line, self.col, self.field, self.message = (
            path,
            line,
            col,
            field_name,
            message,
        )
        super().__init__(f"{path}:{line}:{col}: {field_name}: {message}")


@dataclass
class ComponentConfig:
    """A registry entry (manipulation or alignment) and the keyword arguments for its factory."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Where the target-task data lives.

    ``imagefolder``: ``train``/``val`` are directories read by ``torchvision.datasets.ImageFolder``.
    ``tensors``: ``train``/``val`` are ``.pt`` files holding ``{"x": float [N,C,H,W] in [0,1],
    "y": long [N]}``. Without ``val``, ``val_fraction`` of the training set (a seeded split) is held
    out. Images are resized to ``TrainConfig.image_size``; ``channels`` converts grey to RGB.
    ``jsonl``/``csv``: one record per line (row) with ``text_field`` (and ``pair_field`` for
    sentence pairs) and ``label_field`` — an integer class id, or a name listed in ``classes``;
    ``template`` formats the model input from the record's fields (``{mask}`` is the tokenizer's
    mask token), and ``answer_field`` holds reference answers for generation. For ``backbone:
    clip``, ``class_names`` (default: the image folders' names) fill ``class_template``.
    """

    type: str
    train: str
    val: str | None = None
    val_fraction: float = 0.0
    channels: int = 3
    text_field: str = "text"
    pair_field: str | None = None
    label_field: str = "label"
    answer_field: str | None = None
    classes: list[str] | None = None
    template: str | None = None
    max_length: int = 128
    class_names: list[str] | None = None
    class_template: str = "{}."


@dataclass
class TextModelConfig:
    """How a ``transformers`` backbone is loaded: its tokenizer (default: the model's own
    directory or name) and which head gives the source logits — a masked LM's or causal LM's
    vocabulary logits at the answer position, or ``features``: the mean-pooled last hidden
    state of a bare encoder (a sentence-embedding model), optionally L2-normalised."""

    tokenizer: str | None = None
    head: str = "masked-lm"
    normalize: bool = False


@dataclass
class EvalConfig:
    """How the validation set is scored.

    ``logits``: the aligned logits at the answer position, accuracy of their argmax.
    ``generate``: greedy decoding (``samples: 1``) or ``samples`` sampled generations at
    ``temperature`` with a majority vote over their answers (self-consistency); the answer is
    parsed from the generated text by ``AnswerExtractor`` (``pattern``: a regex whose first group
    is the answer) and compared with the reference by exact match after normalisation.
    """

    mode: str = "logits"
    max_new_tokens: int = 16
    samples: int = 1
    temperature: float = 0.7
    pattern: str | None = None


@dataclass
class TrainConfig:
    """Everything ``python -m reference.train`` needs; field docs live in ``reference/README.md``."""

    model: str
    num_classes: int
    manipulation: ComponentConfig
    alignment: ComponentConfig
    data: DataConfig
    output_dir: str
    backbone: str = "timm"
    text: TextModelConfig = field(default_factory=TextModelConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    pretrained: bool = False
    weights: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    adapter_kwargs: dict[str, Any] = field(default_factory=dict)
    image_size: int = 224
    batch_size: int = 64
    epochs: int = 10
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    seed: int = 0
    num_workers: int = 2
    amp: str = "none"
    device: str = "auto"
    init_max_batches: int | None = None
    grad_clip: float | None = None
    update: str = "backprop"
    update_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def error(self, dotted: str, message: str) -> ConfigError:
        """A :class:`ConfigError` pointing at where ``dotted`` was set (file line or --override).

        Lets later stages (registry lookups, constructor kwargs) blame the right line.
        """
        path, where = self.__dict__.get("_origin", ("<config>", {}))
        return _Reader(path, where).error(dotted, message)


# --------------------------------------------------------------------------------------------
# YAML with positions: a value's (line, col) so that errors can point at it.
# --------------------------------------------------------------------------------------------

Position = tuple[int, int]


def _construct(node: yaml.Node, where: dict[str, Position], prefix: str, path: str) -> Any:
    """Build Python values from a composed node, recording each key's 1-based position.

    Keys must be plain names and appear once per mapping; a value YAML cannot construct (a
    bad tag, ``!!int`` with nothing after it) is a :class:`ConfigError` at its line.
    """
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(path, line, col, prefix or "config",
                                  "a key must be a plain name, not a list or mapping")
            key = key_node.value
            dotted = f"{prefix}.{key}" if prefix else key
            if key in out:
                first = where[dotted][0]
                raise ConfigError(path, line, col, dotted,
                                  f"duplicate key (first given at line {first}); keep one")
            where[dotted] = (line, col)
            out[key] = _construct(value_node, where, dotted, path)
        return out
    if isinstance(node, yaml.SequenceNode):  # items as ``key.0``, ``key.1`` …, for their errors
        items = []
        for i, item in enumerate(node.value):
            dotted = f"{prefix}.{i}"
            where[dotted] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_construct(item, where, dotted, path))
        return items
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, IndexError, OverflowError) as exc:
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, node.start_mark.line + 1, node.start_mark.column + 1,
                          prefix or "config", f"cannot read this value: {reason}") from None


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, Position]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            str(path), 1, 1, "config", f"cannot read: {exc.strerror or exc}"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            str(path), line, 1, "config",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError(
            str(path), line, col, "config", f"invalid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    where: dict[str, Position] = {}
    if node is None:
        return {}, where
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            str(path), node.start_mark.line + 1, 1, "config", "expected a mapping of keys"
        )
    return _construct(node, where, "", str(path)), where


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    target = raw
    for part in parts[:-1]:
        nxt = target.get(part)
        if nxt is None:
            nxt = target[part] = {}
        if not isinstance(nxt, dict):
            raise KeyError(part)
        target = nxt
    target[parts[-1]] = value


def apply_overrides(
    raw: dict[str, Any], where: dict[str, Position], overrides: list[str]
) -> dict[str, Any]:
    """Apply ``key=value`` strings (dotted keys, YAML-parsed values) to a raw config mapping."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--override", 1, 1, item, "expected key=value (e.g. lr=0.01)")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except (yaml.YAMLError, ValueError, TypeError, IndexError, OverflowError) as exc:
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError("--override", 1, len(key) + 2, key,
                              f"invalid value: {reason}") from None
        try:
            _set_dotted(raw, key, value)
        except KeyError as exc:
            raise ConfigError(
                "--override", 1, 1, key, f"{exc.args[0]!r} is not a mapping"
            ) from None
        where[key] = (0, 0)  # marks "came from the command line"
    return raw


# --------------------------------------------------------------------------------------------
# Typed parsing
# --------------------------------------------------------------------------------------------


class _Reader:
    """Turns a raw mapping into dataclasses, raising ``ConfigError`` with positions."""

    def __init__(self, path: str, where: dict[str, Position]) -> None:
        self.path, self.where = path, where

    def error(self, dotted: str, message: str) -> ConfigError:
        key = dotted
        while key not in self.where and "." in key:  # fall back to the enclosing key
            key = key.rsplit(".", 1)[0]
        line, col = self.where.get(key, (1, 1))
        if (line, col) == (0, 0):
            return ConfigError("--override", 1, 1, dotted, message)
        return ConfigError(self.path, line, col, dotted, message)

    def check_keys(self, raw: dict[str, Any], cls: type, prefix: str) -> None:
        names = {f.name for f in dataclasses.fields(cls)}
        for key in raw:
            if key not in names:
                dotted = f"{prefix}{key}"
                raise self.error(dotted, f"unknown key; expected one of {', '.join(sorted(names))}")
        for f in dataclasses.fields(cls):
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default and f.name not in raw:
                anchor = prefix[:-1] if prefix else "config"
                err = self.error(anchor, f"missing required key {f.name!r}")
                raise err

    def typed(
        self, dotted: str, value: Any, kind: type | tuple[type, ...], optional: bool = False
    ) -> Any:
        if value is None and optional:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(dotted, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, dotted: str, value: Any, choices: tuple[str, ...]) -> str:
        value = self.typed(dotted, value, str)
        low = value.lower()
        if low not in choices:
            raise self.error(dotted, f"{value!r} is not one of {', '.join(choices)}")
        return low

    def component(self, key: str, raw: Any) -> ComponentConfig:
        if isinstance(raw, str):
            return ComponentConfig(name=raw)
        if not isinstance(raw, dict):
            raise self.error(key, "expected a registry name or a mapping with 'name' and 'kwargs'")
        self.check_keys(raw, ComponentConfig, f"{key}.")
        kwargs = raw.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise self.error(f"{key}.kwargs", "expected a mapping of keyword arguments")
        return ComponentConfig(
            name=self.typed(f"{key}.name", raw["name"], str), kwargs=dict(kwargs)
        )

    def data(self, raw: Any) -> DataConfig:
        if not isinstance(raw, dict):
            raise self.error("data", "expected a mapping with 'type' and 'train'")
        self.check_keys(raw, DataConfig, "data.")
        cfg = DataConfig(
            type=self.choice("data.type", raw["type"], DATA_TYPES),
            train=str(self.typed("data.train", raw["train"], str)),
            val=self.typed("data.val", raw.get("val"), str, optional=True),
            val_fraction=self.typed("data.val_fraction", raw.get("val_fraction", 0.0), float),
            channels=self.typed("data.channels", raw.get("channels", 3), int),
        )
        if not 0.0 <= cfg.val_fraction < 1.0:
            raise self.error("data.val_fraction", "must be in [0, 1)")
        if cfg.channels not in (1, 3):
            raise self.error("data.channels", "must be 1 or 3")
        for name in ("text_field", "label_field", "class_template"):
            setattr(cfg, name, self.typed(f"data.{name}", raw.get(name, getattr(cfg, name)), str))
        for name in ("pair_field", "answer_field", "template"):
            setattr(cfg, name, self.typed(f"data.{name}", raw.get(name), str, optional=True))
        cfg.max_length = self.typed("data.max_length", raw.get("max_length", 128), int)
        if cfg.max_length < 2:
            raise self.error("data.max_length", "must be at least 2")
        for name in ("classes", "class_names"):
            value = raw.get(name)
            if value is not None:
                if not isinstance(value, list) or not value:
                    raise self.error(f"data.{name}", "expected a non-empty list of names")
                names = [
                    str(self.typed(f"data.{name}.{i}", v, (str, int))) for i, v in enumerate(value)
                ]
                for i, n in enumerate(names):
                    if n in names[:i]:
                        raise self.error(f"data.{name}.{i}", f"{n!r} is listed twice")
                setattr(cfg, name, names)
        if "{}" not in cfg.class_template:
            raise self.error("data.class_template", "must contain {} (where the class name goes)")
        return cfg

    def check_modalities(self, cfg: TrainConfig) -> None:
        """Data type, backbone and evaluation mode must fit together; checked before any build."""
        text_data = cfg.data.type in TEXT_DATA_TYPES
        if text_data and cfg.backbone != "transformers":
            raise self.error("data.type", f"{cfg.data.type} data needs backbone: transformers")
        if cfg.backbone == "transformers" and not text_data:
            raise self.error("data.type", "a transformers backbone reads jsonl or csv data")
        if cfg.backbone == "clip" and cfg.data.type != "imagefolder":
            raise self.error("data.type", "backbone clip reads an imagefolder")
        if cfg.data.classes is not None and len(cfg.data.classes) != cfg.num_classes:
            raise self.error(
                "data.classes",
                f"lists {len(cfg.data.classes)} classes but num_classes is {cfg.num_classes}",
            )
        if cfg.evaluation.mode == "generate":
            if cfg.backbone != "transformers" or cfg.text.head != "causal-lm":
                raise self.error(
                    "evaluation.mode", "generate needs a causal-lm transformers backbone"
                )
            if cfg.epochs != 0:
                raise self.error(
                    "evaluation.mode",
                    "generate evaluates fixed methods (epochs: 0); train with logits at the "
                    "answer position",
                )
            if cfg.data.answer_field is None and cfg.data.classes is None:
                raise self.error(
                    "evaluation.mode",
                    "generate compares answers: give data.answer_field or data.classes",
                )

    def text(self, raw: Any) -> TextModelConfig:
        if raw is None:
            return TextModelConfig()
        if not isinstance(raw, dict):
            raise self.error("text", "expected a mapping (tokenizer, head, normalize)")
        self.check_keys(raw, TextModelConfig, "text.")
        return TextModelConfig(
            tokenizer=self.typed("text.tokenizer", raw.get("tokenizer"), str, optional=True),
            head=self.choice("text.head", raw.get("head", "masked-lm"), TEXT_HEADS),
            normalize=self.typed("text.normalize", raw.get("normalize", False), bool),
        )

    def evaluation(self, raw: Any) -> EvalConfig:
        if raw is None:
            return EvalConfig()
        if not isinstance(raw, dict):
            raise self.error("evaluation", "expected a mapping (mode, max_new_tokens, ...)")
        self.check_keys(raw, EvalConfig, "evaluation.")
        cfg = EvalConfig(
            mode=self.choice("evaluation.mode", raw.get("mode", "logits"), EVAL_MODES),
            max_new_tokens=self.typed(
                "evaluation.max_new_tokens", raw.get("max_new_tokens", 16), int
            ),
            samples=self.typed("evaluation.samples", raw.get("samples", 1), int),
            temperature=self.typed("evaluation.temperature", raw.get("temperature", 0.7), float),
            pattern=self.typed("evaluation.pattern", raw.get("pattern"), str, optional=True),
        )
        for name in ("max_new_tokens", "samples"):
            if getattr(cfg, name) < 1:
                raise self.error(f"evaluation.{name}", "must be at least 1")
        if cfg.temperature <= 0:
            raise self.error("evaluation.temperature", "must be positive")
        if cfg.pattern is not None:
            import re

            try:
                re.compile(cfg.pattern)
            except re.error as exc:
                raise self.error(
                    "evaluation.pattern", f"invalid regular expression: {exc}"
                ) from None
        return cfg

    def config(self, raw: dict[str, Any]) -> TrainConfig:
        self.check_keys(raw, TrainConfig, "")
        g = raw.get
        cfg = TrainConfig(
            model=self.typed("model", g("model"), str),
            num_classes=self.typed("num_classes", g("num_classes"), int),
            manipulation=self.component("manipulation", g("manipulation")),
            alignment=self.component("alignment", g("alignment")),
            data=self.data(g("data")),
            output_dir=str(self.typed("output_dir", g("output_dir"), str)),
            backbone=self.choice("backbone", g("backbone", "timm"), BACKBONES),
            text=self.text(g("text")),
            evaluation=self.evaluation(g("evaluation")),
            pretrained=self.typed("pretrained", g("pretrained", False), bool),
            weights=self.typed("weights", g("weights"), str, optional=True),
            model_kwargs=dict(self.typed("model_kwargs", g("model_kwargs") or {}, dict)),
            adapter_kwargs=dict(self.typed("adapter_kwargs", g("adapter_kwargs") or {}, dict)),
            image_size=self.typed("image_size", g("image_size", 224), int),
            batch_size=self.typed("batch_size", g("batch_size", 64), int),
            epochs=self.typed("epochs", g("epochs", 10), int),
            lr=self.typed("lr", g("lr", 0.01), float),
            optimizer=self.choice("optimizer", g("optimizer", "adam"), OPTIMIZERS),
            momentum=self.typed("momentum", g("momentum", 0.9), float),
            weight_decay=self.typed("weight_decay", g("weight_decay", 0.0), float),
            scheduler=self.choice("scheduler", g("scheduler", "cosine"), SCHEDULERS),
            warmup_epochs=self.typed("warmup_epochs", g("warmup_epochs", 0), int),
            seed=self.typed("seed", g("seed", 0), int),
            num_workers=self.typed("num_workers", g("num_workers", 2), int),
            amp=self.choice("amp", str(g("amp", "none") or "none"), AMP_MODES),
            device=self.typed("device", g("device", "auto"), str),
            init_max_batches=self.typed(
                "init_max_batches", g("init_max_batches"), int, optional=True
            ),
            grad_clip=self.typed("grad_clip", g("grad_clip"), float, optional=True),
            update=self.choice("update", g("update", "backprop"), UPDATES),
            update_kwargs=dict(self.typed("update_kwargs", g("update_kwargs") or {}, dict)),
        )
        for name in ("num_classes", "image_size", "batch_size"):
            if getattr(cfg, name) < 1:
                raise self.error(name, "must be at least 1")
        if cfg.epochs < 0:  # 0: evaluate only (fixed methods: demonstrations, zero-shot heads)
            raise self.error("epochs", "must not be negative (0 evaluates without training)")
        self.check_modalities(cfg)
        if cfg.lr <= 0:
            raise self.error("lr", "must be positive")
        if cfg.num_workers < 0 or cfg.warmup_epochs < 0:
            bad = "num_workers" if cfg.num_workers < 0 else "warmup_epochs"
            raise self.error(bad, "must not be negative")
        cfg.__dict__["_origin"] = (self.path, dict(self.where))
        return cfg


def parse_config(
    raw: dict[str, Any], *, path: str = "<config>", where: dict[str, Position] | None = None
) -> TrainConfig:
    """Validate a raw mapping (as read from YAML) into a :class:`TrainConfig`."""
    return _Reader(path, where or {}).config(raw)


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate; raises :class:`ConfigError`."""
    path = Path(path)
    raw, where = _read_yaml(path)
    raw = apply_overrides(raw, where, overrides or [])
    return parse_config(raw, path=str(path), where=where)
