"""Registry: names, aliases, argument validation, and rebuilding a model from its record."""

from __future__ import annotations

import pytest
import torch

from segcompress import create_model, list_models
from segcompress.engine.checkpoint import model_from_checkpoint
from segcompress.errors import UsageError
from segcompress.models.profile import count_flops, count_params
from segcompress.models.registry import register_model, saved_model_args
from tests.models.helpers import NUM_CLASSES, REGISTERED, small_model

# Everything the issue requires to be registered.
REQUIRED = {"teacher", "student_s", "student_xs", "student_q", "unet", "macunet"}


def test_required_models_are_registered():
    assert set(list_models()) >= REQUIRED
    assert "attention_msunet" in list_models(include_aliases=True)
    assert "attention_msunet" not in list_models()


def test_alias_builds_the_canonical_model():
    model = create_model("attention_msunet", num_classes=3, base_width=8)
    assert model.model_name == "teacher"
    assert model.model_args["base_width"] == 8


def test_unknown_name_lists_known_models():
    with pytest.raises(UsageError, match="unknown model 'resnet'.*student_s.*teacher"):
        create_model("resnet")


def test_duplicate_registration_is_refused():
    def teacher(num_classes: int) -> None:
        raise AssertionError("never called")

    before = list_models(include_aliases=True)
    with pytest.raises(ValueError, match="'teacher' is registered twice"):
        register_model()(teacher)
    assert list_models(include_aliases=True) == before


def test_saved_defaults_must_name_an_argument():
    def made_up_model(num_classes: int) -> None:
        raise AssertionError("never called")

    before = list_models(include_aliases=True)
    with pytest.raises(ValueError, match="saved_defaults names no argument"):
        register_model(saved_defaults={"colour": 1})(made_up_model)
    assert list_models(include_aliases=True) == before


def test_a_file_older_than_an_argument_rebuilds_the_model_it_was():
    """student_q's decoder upsampling became bilinear by default; a file saved before the
    argument existed was a nearest-decoder model and must load as one, with the same outputs.
    A file that records the argument keeps it, and other models are left alone."""
    torch.manual_seed(0)
    nearest = create_model("student_q", num_classes=5, decoder_upsample="nearest").eval()
    assert create_model("student_q", num_classes=5).decoder_upsample == "bilinear"
    old_args = {k: v for k, v in nearest.model_args.items() if k != "decoder_upsample"}
    assert saved_model_args("student_q", old_args)["decoder_upsample"] == "nearest"
    recorded = {**old_args, "decoder_upsample": "bilinear"}
    assert saved_model_args("student_q", recorded) == recorded
    assert saved_model_args("student_s", {"width_mult": 2}) == {"width_mult": 2}
    state = {
        "model_name": "student_q",
        "model_args": old_args,
        "num_classes": 5,
        "model": nearest.state_dict(),
    }
    loaded = model_from_checkpoint(state)
    assert loaded.decoder_upsample == "nearest"
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), nearest(x))


@pytest.mark.parametrize("name", REGISTERED)
@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_invalid_num_classes(name, num_classes):
    with pytest.raises(UsageError, match="num_classes"):
        create_model(name, num_classes=num_classes)


@pytest.mark.parametrize("name", ["teacher", "unet", "macunet"])
@pytest.mark.parametrize("depth", [2, 7])
def test_depth_out_of_range(name, depth):
    with pytest.raises(UsageError, match="depth must be between 3 and 6"):
        create_model(name, depth=depth, base_width=4)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("teacher", {"colour": 1}, "accepted arguments: num_classes, depth"),
        ("teacher", {"base_width": 0}, "base_width must be a positive integer"),
        ("student_s", {"width_mult": 0}, "width_mult must be a positive number"),
        ("student_q", {"width_mult": -1.5}, "width_mult must be a positive number"),
        ("student_s", {"upsample": "bicubic"}, "upsample must be one of bilinear, nearest"),
        ("student_xs", {"width_mult": torch.tensor(1.0)}, "must be a plain value"),
        ("student_xs", {"stem_stride": 4}, "stem_stride must be 1 or 2"),
    ],
)
def test_invalid_arguments(name, kwargs, message):
    with pytest.raises(UsageError, match=message):
        create_model(name, **kwargs)


@pytest.mark.parametrize("name", REGISTERED)
def test_checkpoint_rebuilds_the_model(name, tmp_path):
    model = small_model(name)
    assert model.model_name == name
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"name": model.model_name, "args": model.model_args, "state": model.state_dict()}, path
    )
    ckpt = torch.load(path, weights_only=True)
    rebuilt = create_model(ckpt["name"], **ckpt["args"])
    rebuilt.load_state_dict(ckpt["state"])  # strict: same architecture
    assert rebuilt.model_args == model.model_args
    assert rebuilt.num_classes == NUM_CLASSES
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))


def test_default_teacher_size_and_student_budgets():
    """Default teacher: 5-15M parameters; students within 1/15 (s) and 1/50 (xs) of its FLOPs
    and parameters (fused, as deployed; FLOPs ratios at 64x64 equal those at 256x256 because
    every layer's cost scales with the pixel count when no padding is needed). student_q keeps
    the FLOPs budget of student_s (1/15) but not its parameter budget: its wider deep levels
    hold parameters at 1/16 and 1/32 of the input size, where they cost little time."""
    teacher = create_model("teacher")
    assert 5e6 <= count_params(teacher) <= 15e6
    costs = {}
    for name in ("teacher", "student_s", "student_xs", "student_q"):
        fused = create_model(name).fuse()
        costs[name] = (count_params(fused), count_flops(fused, (64, 64)))
    t_params, t_flops = costs["teacher"]
    for name, limit in (("student_s", 15), ("student_xs", 50)):
        params, flops = costs[name]
        assert params * limit <= t_params, (name, params, t_params)
        assert flops * limit <= t_flops, (name, flops, t_flops)
    params, flops = costs["student_q"]
    assert flops * 15 <= t_flops and params * 8 <= t_params
