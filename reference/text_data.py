"""Text datasets for the trainer: ``jsonl`` or ``csv`` records, tokenised by the backbone's tokenizer.

A record holds the input text (``data.text_field``, plus ``data.pair_field`` for sentence pairs),
its label (``data.label_field``: a class id, or a name listed in ``data.classes``) and, for
generation, a reference answer (``data.answer_field``). ``data.template`` writes the model input
from the record's fields, e.g. ``"{text} It was {mask}."`` for a masked LM, where ``{mask}`` is the
tokenizer's mask token: the answer position of a cloze prompt (PET, LM-BFF).

Every record is read and tokenised once, up front, so a malformed record stops the run before
anything is trained, with ``file:line: message``. Batches are padded to their longest sequence
with an attention mask (:class:`Collate`). Padding goes to the right, where it moves neither the
adapter's answer position (the ``[MASK]``, or the last real token of a causal LM) nor the
absolute positions of the real tokens; generation writes each new token after the last real one
(``reference.evaluate``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .config import DataConfig
from .data import DataError


@dataclass
class Record:
    """One example as read: where it came from, its fields, its class id."""

    where: str  # "file:line"
    fields: dict[str, Any]
    label: int


def read_records(path: str | Path, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """``(line, record)`` pairs of a ``jsonl`` file or a ``csv`` file with a header row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            if not isinstance(value, dict):
                raise DataError(
                    f"{path}:{number}: expected a JSON object, got {type(value).__name__}"
                )
            rows.append((number, value))
        return rows
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    for row in reader:
        number = reader.line_num
        if header is None:
            header = [h.strip() for h in row]
            if not header or any(not h for h in header):
                raise DataError(f"{path}:{number}: the header row needs a name for every column")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{number}: {len(row)} columns, the header has {len(header)}")
        rows.append((number, dict(zip(header, row))))
    if header is None:
        raise DataError(f"{path}: empty file (a csv file starts with a header row)")
    return rows


def parse_label(
    value: Any, classes: Sequence[str] | None, num_classes: int, where: str, field: str
) -> int:
    """A record's class id: an integer in ``[0, num_classes)``, or a name listed in ``classes``."""
    if classes is not None and str(value) in classes:
        return list(classes).index(str(value))
    if isinstance(value, bool):
        raise DataError(f"{where}: {field}: expected a class id or name, got {value!r}")
    try:
        label = int(value)
    except (TypeError, ValueError):
        known = f"; classes are {', '.join(classes)}" if classes else ""
        raise DataError(f"{where}: {field}: unknown label {value!r}{known}") from None
    if isinstance(value, float) and value != label:
        raise DataError(f"{where}: {field}: {value!r} is not a class id")
    if not 0 <= label < num_classes:
        raise DataError(f"{where}: {field}: label {label} does not fit num_classes={num_classes}")
    return label


class TextDataset(Dataset):
    """Tokenised records: ``dataset[i]`` is ``(input_ids, label, index)``.

    The index lets generation evaluation look up the reference answer and the record.
    """

    def __init__(
        self,
        path: str,
        cfg: DataConfig,
        tokenizer: Any,
        num_classes: int,
        need_mask: bool = False,
    ) -> None:
        self.path = path
        self.records: list[Record] = []
        self.input_ids: list[list[int]] = []
        self.answers: list[str] = []
        mask_token = getattr(tokenizer, "mask_token", None)
        for number, fields in read_records(path, cfg.type):
            where = f"{path}:{number}"
            if cfg.label_field not in fields and cfg.answer_field is None:
                raise DataError(f"{where}: missing field {cfg.label_field!r}")
            label = (
                parse_label(
                    fields[cfg.label_field], cfg.classes, num_classes, where, cfg.label_field
                )
                if cfg.label_field in fields
                else -1
            )
            text, pair = self._text(fields, cfg, where, mask_token)
            if need_mask and mask_token is not None and mask_token not in text + (pair or ""):
                raise DataError(
                    f"{where}: the input has no {mask_token} (the answer position of a masked LM); "
                    "write {mask} into data.template"
                )
            encoded = (
                tokenizer(text, pair, truncation=True, max_length=cfg.max_length)
                if pair is not None
                else tokenizer(text, truncation=True, max_length=cfg.max_length)
            )
            ids = list(encoded["input_ids"])
            if need_mask and mask_token is not None and tokenizer.mask_token_id not in ids:
                raise DataError(
                    f"{where}: the {mask_token} was cut off at data.max_length={cfg.max_length}"
                )
            self.records.append(Record(where, fields, label))
            self.input_ids.append(ids)
            self.answers.append(self._answer(fields, cfg, label, where))
        if not self.records:
            raise DataError(f"{path}: no records")

    @staticmethod
    def _text(
        fields: dict[str, Any], cfg: DataConfig, where: str, mask_token: str | None
    ) -> tuple[str, str | None]:
        def field(name: str) -> str:
            if name not in fields:
                raise DataError(f"{where}: missing field {name!r}")
            value = fields[name]
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise DataError(f"{where}: {name}: expected text, got {type(value).__name__}")
            return str(value)

        if cfg.template is not None:
            values = {k: v for k, v in fields.items() if isinstance(v, str | int | float)}
            if mask_token is not None:
                values["mask"] = mask_token
            try:
                return cfg.template.format_map(values), None
            except KeyError as exc:
                raise DataError(
                    f"{where}: data.template names field {exc.args[0]!r}, which the record lacks"
                ) from None
            except (ValueError, IndexError) as exc:
                raise DataError(f"{where}: data.template: {exc}") from None
        text = field(cfg.text_field)
        return text, field(cfg.pair_field) if cfg.pair_field else None

    @staticmethod
    def _answer(fields: dict[str, Any], cfg: DataConfig, label: int, where: str) -> str:
        if cfg.answer_field is not None:
            if cfg.answer_field not in fields:
                raise DataError(f"{where}: missing field {cfg.answer_field!r}")
            return str(fields[cfg.answer_field])
        if cfg.classes is not None and label >= 0:
            return cfg.classes[label]
        return str(label)

    @property
    def targets(self) -> list[int]:
        return [r.label for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[list[int], int, int]:
        return self.input_ids[i], self.records[i].label, i


class Collate:
    """Pads a batch to its longest sequence: ``({"input_ids", "attention_mask"}, labels)``.

    A class (not a closure) so that DataLoader workers can pickle it.
    """

    def __init__(self, pad_id: int, with_index: bool = False) -> None:
        self.pad_id, self.with_index = int(pad_id), with_index

    def __call__(self, batch: list[tuple[list[int], int, int]]) -> tuple[Any, ...]:
        width = max(len(ids) for ids, _, _ in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, (seq, _, _) in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        labels = torch.tensor([label for _, label, _ in batch], dtype=torch.long)
        x = {"input_ids": ids, "attention_mask": mask}
        if self.with_index:
            return x, labels, torch.tensor([i for _, _, i in batch], dtype=torch.long)
        return x, labels


def pad_id_of(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its end-of-sequence id (GPT-2 has no pad token), else 0."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def load_tokenizer(name: str) -> Any:
    """``AutoTokenizer`` from a local directory or, unless offline, the hub."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"tokenizer {name}: cannot load: {first}") from None


def to_device(x: Any, device: torch.device) -> Any:
    """A tensor or a mapping of tensors (a tokenised batch) on ``device``."""
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


def build_text_splits(
    cfg: DataConfig,
    tokenizer: Any,
    num_classes: int,
    seed: int,
    need_mask: bool,
    need_labels: bool = True,
) -> tuple[Dataset, Dataset]:
    """Train and validation sets: ``data.val``, or a seeded ``val_fraction`` of ``data.train``.

    ``need_labels``: every record must have a label (training, and scoring logits); generation
    is scored against ``data.answer_field`` and needs none.
    """
    from torch.utils.data import Subset

    sets = [
        TextDataset(path, cfg, tokenizer, num_classes, need_mask)
        for path in (cfg.train, cfg.val)
        if path
    ]
    if need_labels:
        for ds in sets:
            missing = next((r for r in ds.records if r.label < 0), None)
            if missing is not None:
                raise DataError(f"{missing.where}: missing field {cfg.label_field!r}")
    train = sets[0]
    if cfg.val:
        return train, sets[1]
    if cfg.val_fraction <= 0:
        raise DataError("data: give data.val or a data.val_fraction > 0 for validation")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(cfg.val_fraction * len(order)))
    return Subset(train, order[n_val:]), Subset(train, order[:n_val])


def base_dataset(ds: Dataset) -> TextDataset:
    """The :class:`TextDataset` under a (possibly nested) ``Subset``."""
    while not isinstance(ds, TextDataset):
        ds = ds.dataset  # type: ignore[attr-defined]
    return ds
