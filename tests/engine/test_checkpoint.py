"""Checkpoint files: atomic writes, weights_only reading, refusal of code, clear mismatches."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from segcompress import create_model, load_model
from segcompress.engine.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    load_model_weights,
    restore_rng_state,
    save_checkpoint,
)
from segcompress.errors import DataError


def _state(model: torch.nn.Module) -> dict:
    return {
        "format_version": 1,
        "model_name": model.model_name,
        "model_args": model.model_args,
        "model": model.state_dict(),
        "num_classes": model.model_args["num_classes"],
        "classes": {"ignore_index": 255, "classes": [{"id": 0, "name": "x"}]},
        "rng": [capture_rng_state()],
    }


class _Payload:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_save_is_atomic_and_readable_with_weights_only(tmp_path):
    model = create_model("student_xs", num_classes=3)
    path = tmp_path / "last.pt"
    save_checkpoint(_state(model), path)
    save_checkpoint(_state(model), path)  # replacing an existing file
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind
    state = torch.load(path, weights_only=True)
    assert state["model_name"] == "student_xs"
    rebuilt = load_model(path)
    assert not rebuilt.training
    x = torch.randn(1, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_file_needing_arbitrary_unpickling_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"format_version": 1, "payload": _Payload(marker)}, fh)
    torch_path = tmp_path / "evil_zip.pt"
    torch.save({"payload": _Payload(marker)}, torch_path)
    assert not marker.exists()
    for candidate in (path, torch_path):
        with pytest.raises(DataError, match="refused to load.*nothing in it was executed"):
            load_checkpoint(candidate)
    assert not marker.exists()


def test_missing_or_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a segcompress checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="refused to load"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(_state(create_model("student_xs", num_classes=3)), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def test_other_architecture_or_class_count_is_named(tmp_path):
    state = _state(create_model("student_xs", num_classes=3))
    with pytest.raises(DataError, match="holds a 'student_xs' model, not 'student_s'"):
        load_model_weights(create_model("student_s", num_classes=3), state, "ck.pt")
    with pytest.raises(DataError, match="checkpoint has 3 classes, the model 5"):
        load_model_weights(create_model("student_xs", num_classes=5), state, "ck.pt")
    wider = create_model("student_xs", num_classes=3, width_mult=2.0)
    with pytest.raises(DataError, match="weights do not fit"):
        load_model_weights(wider, state, "ck.pt")


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint({"rng": capture_rng_state()}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
