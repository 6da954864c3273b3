"""``python -m reference.train``: configs, the loop, metrics, checkpoints, resume, statistics, DDP.

Everything runs on tiny random timm models (``pretrained: false``) and tensors the tests make, so
nothing is downloaded; the DDP test starts two CPU processes with ``torchrun`` and gloo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reference_support import VIT_KWARGS as TINY_VIT, one_torch_thread, run_torchrun, torchrun_failure  # noqa: F401

from reference import registry
from reference.checkpoint import load_checkpoint
from reference.config import ConfigError, load_config
from reference.train import build_model, build_reprogrammed, main

ROOT = Path(__file__).resolve().parents[1]
# The timm-image configs; the text and CLIP ones (backbone: transformers | clip) run end to end
# on tiny local models in tests/test_reference_text_train.py.
CONFIGS = sorted(
    p for p in (ROOT / "reference" / "configs").glob("*.yaml") if load_config(p).backbone == "timm"
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_data(
    path: Path, n: int = 48, num_classes: int = 3, size: int = 24, seed: int = 0
) -> Path:
    """Images whose class shows as a brightness level, so a prompt + mapping can fit them."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = (torch.rand(n, 3, size, size, generator=g) * 0.3 + y.view(-1, 1, 1, 1) * 0.3).clamp(0, 1)
    torch.save({"x": x, "y": y.long()}, path)
    return path


def _config(tmp_path: Path, **extra: object) -> Path:
    """A tiny ViT + padding prompt + ILM config; ``extra`` adds or replaces top-level keys."""
    data = _write_data(tmp_path / "train.pt")
    val = _write_data(tmp_path / "val.pt", n=18, seed=1)
    cfg: dict[str, object] = {
        "model": "vit_tiny_patch16_224",
        "pretrained": False,
        "model_kwargs": TINY_VIT,
        "num_classes": 3,
        "manipulation": {"name": "padding_prompt", "kwargs": {"pad": 4}},
        "alignment": "ilm",
        "data": {"type": "tensors", "train": str(data), "val": str(val)},
        "image_size": 24,
        "batch_size": 16,
        "epochs": 2,
        "lr": 0.05,
        "optimizer": "adam",
        "num_workers": 0,
        "seed": 0,
        "output_dir": str(tmp_path / "out"),
    }
    cfg.update(extra)
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _tensors(obj: object):  # type: ignore[no-untyped-def]
    """Every tensor inside a nested checkpoint structure."""
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_builds(path: Path) -> None:
    """Every shipped config parses, names registered components, and builds (random weights)."""
    cfg = load_config(path, ["pretrained=false"])
    assert cfg.manipulation.name == "none" or cfg.manipulation.name in registry.list_manipulations()
    assert cfg.alignment.name in registry.list_alignments()
    if cfg.model.startswith("vit_"):  # same components on a tiny ViT keep the test fast
        kwargs = {k: v for k, v in TINY_VIT.items() if k != "num_classes"}
        cfg = load_config(
            path, ["pretrained=false", "model=vit_tiny_patch16_224", f"model_kwargs={kwargs}"]
        )
    model = build_model(cfg)
    reprogrammed = build_reprogrammed(cfg, model)
    counts = reprogrammed.parameter_counts()
    assert counts["trainable"] > 0 and counts["frozen"] > 0


def test_configs_cover_every_learnable_vision_family() -> None:
    """At least one config per (ℓ, τ) family that has a learnable vision reference."""
    used = set()
    for path in CONFIGS:
        name = load_config(path).manipulation.name
        if name != "none":
            used.add(registry.get_manipulation(name).cell)
    wanted = set()
    for name in registry.list_manipulations():
        cls = registry.get_manipulation(name)
        if cls.cell[0] == "learnable" and "vision" in cls.modalities:
            wanted.add(cls.cell)
    assert wanted <= used, f"no config for {sorted(wanted - used)}"


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = _config(tmp_path)
    text = path.read_text().replace("batch_size: 16", "batch_size: sixteen")
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("batch_size"))
    assert str(err.value).startswith(f"{path}:{line}:1: batch_size: expected int")

    path.write_text(text.replace("batch_size: sixteen", "batch_sise: 16"))
    with pytest.raises(ConfigError, match=r":\d+:1: batch_sise: unknown key"):
        load_config(path)

    path.write_text(text.replace("batch_size: sixteen", "batch_size: 16"))
    with pytest.raises(ConfigError, match="--override:1:1: lr: must be positive"):
        load_config(path, ["lr=-1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(path, ["lr"])
    cfg = load_config(path, ["lr=0.5", "data.val_fraction=0.2", "manipulation.kwargs.pad=2"])
    assert (cfg.lr, cfg.data.val_fraction, cfg.manipulation.kwargs) == (0.5, 0.2, {"pad": 2})


def test_cli_reports_unknown_component_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _config(tmp_path, alignment="nope")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    line = next(
        i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("alignment")
    )
    assert f"{path}:{line}:1: alignment.name: unknown alignment 'nope'" in err
    assert not (tmp_path / "out").exists()  # nothing written for a bad config

    bad = _config(
        tmp_path,
        data={"type": "tensors", "train": str(tmp_path / "missing.pt"), "val_fraction": 0.2},
    )
    assert main(["--config", str(bad)]) == 1
    assert "missing.pt: file not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- training


def test_train_writes_metrics_summary_and_trainable_only_checkpoints(tmp_path: Path) -> None:
    path = _config(tmp_path, amp="bf16")  # ignored on CPU, with a notice
    assert main(["--config", str(path)]) == 0
    out = tmp_path / "out"
    rows = _metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    keys = {
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "seconds",
        "trainable_params",
        "frozen_params",
        "lr",
    }
    assert keys <= set(rows[0])
    assert (
        rows[1]["train_loss"] < rows[0]["train_loss"]
        or rows[1]["train_acc"] >= rows[0]["train_acc"]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"] == rows[-1] and summary["world_size"] == 1 and summary["ranks_agree"]

    ckpt = load_checkpoint(out / "last.pt")
    cfg = load_config(path)
    reprogrammed = build_reprogrammed(cfg, build_model(cfg))
    assert set(ckpt["trainable"]) == set(reprogrammed.trainable_state_dict())
    assert all(k.startswith(("manipulation.", "alignment.")) for k in ckpt["trainable"])
    # No backbone tensor anywhere in the file (trainable state, optimizer state, anything).
    saved = list(_tensors(ckpt))
    for name, tensor in reprogrammed.model.state_dict().items():
        if tensor.numel() > 1:
            same = [t for t in saved if t.shape == tensor.shape and torch.equal(t, tensor)]
            assert not same, f"backbone tensor {name} found in the checkpoint"
    # Small: the prompt, the mapping and Adam's two moments — far below the backbone's size.
    backbone_bytes = sum(
        t.numel() * t.element_size() for t in reprogrammed.model.state_dict().values()
    )
    trainable_bytes = sum(t.numel() * t.element_size() for t in ckpt["trainable"].values())
    assert (out / "last.pt").stat().st_size < 3 * trainable_bytes + 20_000 < backbone_bytes
    assert ckpt["epoch"] == 2 and ckpt["optimizer"] is not None
    # The checkpoint restores the trained model exactly.
    reprogrammed.load_trainable_state_dict(ckpt["trainable"])
    x = torch.rand(2, 3, 24, 24)
    assert reprogrammed(x).shape == (2, 3)


def test_resume_matches_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed during epoch 2 and resumed ends bit-identical to one that was never stopped."""
    import reference.train as train_module

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert main(["--config", str(_config(tmp_path / "a"))]) == 0
    straight = json.loads((tmp_path / "a" / "out" / "summary.json").read_text())

    interrupted = _config(tmp_path / "b")
    real_evaluate = train_module.evaluate
    seen = []

    def crash_in_epoch_2(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("simulated crash")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", crash_in_epoch_2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["--config", str(interrupted)])
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)
    out = tmp_path / "b" / "out"
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert [r["epoch"] for r in _metrics(out)] == [1]

    assert main(["--config", str(interrupted), "--resume"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert [r["epoch"] for r in _metrics(out)] == [1, 2]
    assert resumed["rank_checksums"] == straight["rank_checksums"]
    assert resumed["final"]["val_acc"] == straight["final"]["val_acc"]

    assert main(["--config", str(interrupted), "--resume", str(tmp_path / "nope.pt")]) == 1


def test_statistical_alignment_is_driven_like_the_papers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """initialize once from one pass; observe every training sample each epoch; refresh per epoch."""
    from reference.alignments.statistical import IterativeLabelMapping

    calls: dict[str, list[int]] = {"initialize": [], "observe": [], "refresh": []}
    for name in calls:
        original = getattr(IterativeLabelMapping, name)

        def spy(self, *args, _original=original, _name=name):  # type: ignore[no-untyped-def]
            calls[_name].append(int(args[1].numel()) if args else 0)
            return _original(self, *args)

        monkeypatch.setattr(IterativeLabelMapping, name, spy)
    path = _config(tmp_path, epochs=3)
    assert main(["--config", str(path)]) == 0
    assert calls["initialize"] == [48]
    assert sum(calls["observe"]) == 3 * 48 and len(calls["observe"]) == 3 * 3  # 3 batches of 16
    assert len(calls["refresh"]) == 3


def test_linear_probe_and_fixed_alignment(tmp_path: Path) -> None:
    """``manipulation: none`` + features = linear probe; an untrainable setup still evaluates."""
    kwargs = dict(TINY_VIT, num_classes=0)
    probe = _config(
        tmp_path, manipulation="none", alignment="linear", model_kwargs=kwargs, image_size=32
    )
    assert main(["--config", str(probe), "--override", "epochs=1"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["trainable_params"] == 32 * 3 + 3

    frozen = _config(tmp_path, manipulation="none", alignment="flm", image_size=32)
    assert (
        main(
            [
                "--config",
                str(frozen),
                "--override",
                "epochs=1",
                "output_dir=" + str(tmp_path / "o2"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["trainable_params"] == 0 and 0.0 <= summary["final"]["val_acc"] <= 1.0


@pytest.mark.parametrize(
    ("manipulation", "alignment"),
    [
        ("soft_prompt", "linear"),
        ("deep_prompt", "blm"),
        ("loreft", "linear"),
        ("sample_specific_mask", "blm+"),
        ("adversarial_reprogramming", "class-assignment"),
    ],
)
def test_other_families_train_through_the_cli(
    tmp_path: Path, manipulation: str, alignment: str
) -> None:
    """Embedding-, hidden- and parametric-input methods go through the same loop."""
    size = 32 if manipulation != "adversarial_reprogramming" else 16
    path = _config(
        tmp_path,
        manipulation={
            "name": manipulation,
            "kwargs": {"pools": 2} if manipulation == "sample_specific_mask" else {},
        },
        alignment=alignment,
        image_size=size,
        epochs=1,
    )
    assert main(["--config", str(path)]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["trainable_params"] > 0 and 0.0 <= summary["final"]["val_acc"] <= 1.0


# ---------------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_two_cpu_ranks_agree(tmp_path: Path) -> None:
    """torchrun, 2 processes, gloo: same parameters and label mapping on both ranks; rank 0 writes."""
    proc = run_torchrun(["--config", str(_config(tmp_path, epochs=1))])
    assert proc.returncode == 0, torchrun_failure(proc)
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert len(summary["rank_checksums"]) == 2 and summary["ranks_agree"]
    rows = _metrics(out)
    assert len(rows) == 1  # one writer
    # All 48 training samples were observed for the label mapping, not one rank's half.
    assert proc.stdout.count("label mapping initialised from 48 samples") == 1


@pytest.mark.parametrize(("world_size", "code"), [("2", 3), ("1", 4)])
def test_a_rank_leaves_with_its_exit_code_and_its_output_flushed(world_size: str, code: int) -> None:
    """exit_rank skips C++ teardown only under torchrun (WORLD_SIZE > 1); output is never lost."""
    program = ("from reference.distributed import exit_rank; print('written', end=''); "
               f"exit_rank({code})")
    env = dict(os.environ, WORLD_SIZE=world_size,
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "scripts")]))
    proc = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert (proc.returncode, proc.stdout) == (code, "written"), proc.stderr


# ---------------------------------------------------------------------------------- README


def test_readme_tables_list_every_registered_name() -> None:
    """reference/README.md carries the generated registry tables, current and complete."""
    from reference import catalog

    assert catalog.main(["--check"]) == 0, "run: python -m reference.catalog"
    text = catalog.README.read_text(encoding="utf-8")
    for name in registry.list_manipulations():
        assert f"| `{name}` |" in text
        assert catalog.manipulation_papers(name), f"{name}: class docstring names no paper"
    for name in registry.list_alignments():
        assert f"| `{name}` |" in text
        assert name in catalog.ALIGNMENT_PAPERS, (
            f"{name}: add its papers to catalog.ALIGNMENT_PAPERS"
        )
