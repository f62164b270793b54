from __future__ import annotations

import json

import pytest

from segcompress.data.classes import (
    IDD_LEVEL1,
    IDD_LEVEL2,
    IDD_LEVEL3,
    ClassTable,
    load_class_table,
)
from segcompress.errors import DataError


def test_idd_level3_matches_the_official_table():
    assert IDD_LEVEL3.num_classes == 26
    assert IDD_LEVEL3.ignore_index == 255
    # Spot checks against ../shared/datasets/README.md (AutoNUE label definitions).
    expected = {
        0: ("road", (128, 64, 128)),
        1: ("drivable fallback", (250, 170, 160)),
        8: ("autorickshaw", (255, 204, 54)),
        12: ("vehicle fallback", (0, 0, 90)),
        13: ("curb", (220, 190, 40)),
        21: ("obs-str-bar-fallback", (169, 187, 214)),
        25: ("sky", (70, 130, 180)),
    }
    for i, (name, color) in expected.items():
        assert IDD_LEVEL3.names[i] == name
        assert IDD_LEVEL3.colors[i] == color
    assert len(set(IDD_LEVEL3.colors)) == 26
    assert IDD_LEVEL3.void_color == (0, 0, 0)


def test_other_levels():
    assert IDD_LEVEL1.num_classes == 7
    assert IDD_LEVEL1.names[0] == "drivable" and IDD_LEVEL1.names[6] == "sky"
    assert IDD_LEVEL2.num_classes == 16


def test_void_as_class_adds_black_as_class_26():
    table = IDD_LEVEL3.with_void_class()
    assert table.num_classes == 27
    assert table.colors[26] == (0, 0, 0)
    assert table.void_color is None


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_from_file_roundtrip(tmp_path, suffix):
    data = IDD_LEVEL3.to_dict()
    path = tmp_path / f"classes{suffix}"
    path.write_text(json.dumps(data))
    assert load_class_table(path) == IDD_LEVEL3


def test_load_yaml_of_the_documented_shape_without_colours(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "ignore_index: 255\nclasses:\n  - {id: 1, name: car}\n  - {id: 0, name: road}\n"
    )
    table = load_class_table(path)
    assert table.names == ("road", "car")
    assert table.colors is None
    assert len(table.palette()) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes:\n  - {id: 0, name: a}\n  - {id: 2, name: b}\n", "ids must run"),
        ("classes:\n  - {id: 0, name: a, color: [1, 2, 3]}\n  - {id: 1, name: b}\n", "every class"),
        ("classes:\n  - {id: 0, name: a, color: [1, 2]}\n", "three integers"),
        ("classes:\n  - {id: 0, name: a}\nbogus: 1\n", "unknown keys"),
        ("ignore_index: 0\nclasses:\n  - {id: 0, name: a}\n", "collides"),
        ("[1, 2]", "'classes' list"),
        ("classes: [ {id: 0", "not valid"),
    ],
)
def test_bad_class_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        load_class_table(path)
    assert "bad.yaml" in str(err.value) or "collides" in message


def test_missing_class_file():
    with pytest.raises(DataError, match="cannot read"):
        load_class_table("/nonexistent/classes.yaml")


def test_duplicate_names_or_colours_refused():
    with pytest.raises(DataError):
        ClassTable(names=("a", "a"))
    with pytest.raises(DataError):
        ClassTable(names=("a", "b"), colors=((1, 1, 1), (1, 1, 1)))
