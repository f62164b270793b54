from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from segcompress.data.formats import DataSpec, detect_format, open_format
from segcompress.errors import DataError, UsageError

from .builders import image_for, make_cityscapes_like, make_kaggle, random_ids, save


def test_kaggle_pairs_by_frame_id_not_by_sort_order(tmp_path):
    make_kaggle(tmp_path, "train", ["0000001", "0000002", "0000003"])
    # Remove the middle mask: pairing by sorted position would pair image 2 with mask 3.
    (tmp_path / "train/rgb_labels/0000002_gtFine_polygons.png").unlink()
    fmt = open_format(DataSpec(root=str(tmp_path)))
    listing = fmt.list_split("train")
    assert [(p.key, p.image.name, p.mask.name) for p in listing.pairs] == [
        ("0000001", "0000001_leftImg8bit.png", "0000001_gtFine_polygons.png"),
        ("0000003", "0000003_leftImg8bit.png", "0000003_gtFine_polygons.png"),
    ]
    assert [(p.kind, os.path.basename(p.file)) for p in listing.problems] == [
        ("orphan-image", "0000002_leftImg8bit.png")
    ]


def test_kaggle_shuffled_names_orphans_duplicates_and_junk(tmp_path):
    keys = ["0000042", "0000007", "0000100", "0000009"]
    make_kaggle(tmp_path, "val", keys)
    save(tmp_path / "val/rgb_labels/0000500_gtFine_polygons.png", np.zeros((8, 8, 3), np.uint8))
    save(tmp_path / "val/images/0000007_leftImg8bit.jpg", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "val/images/notes.txt").write_text("not an image")
    (tmp_path / "val/images/.DS_Store").write_bytes(b"\0")
    listing = open_format(DataSpec(root=str(tmp_path))).list_split("val")
    assert [p.key for p in listing.pairs] == sorted(keys)
    kinds = sorted((p.kind, os.path.basename(p.file)) for p in listing.problems)
    assert kinds == [
        ("duplicate-id", "0000007_leftImg8bit.png"),
        ("orphan-mask", "0000500_gtFine_polygons.png"),
    ]
    assert listing.ignored_files == 2


def test_idd_official_layout_with_levels(tmp_path):
    keys = ["0/000001", "0/000002", "12/000003"]
    make_cityscapes_like(tmp_path, "train", keys, "_leftImg8bit", "_gtFine_labellevel3Ids", 26)
    # Other levels and json polygons lie beside the level-3 masks and must not confuse pairing.
    save(tmp_path / "gtFine/train/0/000001_gtFine_labellevel1Ids.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "gtFine/train/0/000001_gtFine_polygons.json").write_text("{}")
    assert detect_format(tmp_path) == "idd"
    fmt = open_format(DataSpec(root=str(tmp_path)))
    assert fmt.name == "idd" and fmt.classes.num_classes == 26
    listing = fmt.list_split("train")
    assert [p.key for p in listing.pairs] == keys and not listing.problems
    level1 = open_format(DataSpec(root=str(tmp_path), level=1)).list_split("train")
    assert [p.key for p in level1.pairs] == ["0/000001"]
    assert open_format(DataSpec(root=str(tmp_path), level=2)).classes.num_classes == 16


def test_idd_lite_layout(tmp_path):
    make_cityscapes_like(tmp_path, "val", ["3/000010", "3/000011"], "_image", "_label", 7)
    assert detect_format(tmp_path) == "idd-lite"
    fmt = open_format(DataSpec(root=str(tmp_path)))
    assert fmt.classes.num_classes == 7 and fmt.mask_kind == "index"
    assert [p.key for p in fmt.list_split("val").pairs] == ["3/000010", "3/000011"]


def test_folder_format_with_suffixes_and_subfolders(tmp_path):
    classes = tmp_path / "classes.yaml"
    classes.write_text(
        "classes:\n  - {id: 0, name: a}\n  - {id: 1, name: b}\n  - {id: 2, name: c}\n"
    )
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for sub, stem in (("cityA", "f1"), ("cityB", "f1")):
            ids = random_ids(rng, (16, 16), 3)
            save(tmp_path / "img" / split / sub / f"{stem}_rgb.jpg", image_for(ids))
            save(tmp_path / "ann" / split / sub / f"{stem}_mask.png", ids)
    spec = DataSpec(
        images=str(tmp_path / "img"),
        masks=str(tmp_path / "ann"),
        classes=str(classes),
        image_suffix="_rgb",
        mask_suffix="_mask",
    )
    fmt = open_format(spec)
    assert fmt.name == "folder" and fmt.mask_kind == "index"
    assert fmt.splits() == ["train", "val"]
    assert [p.key for p in fmt.list_split("val").pairs] == ["cityA/f1", "cityB/f1"]
    with pytest.raises(DataError, match="no split 'test'"):
        fmt.list_split("test")


def test_folder_format_needs_its_flags(tmp_path):
    with pytest.raises(UsageError, match="--classes"):
        open_format(DataSpec(format="folder", images=str(tmp_path), masks=str(tmp_path)))


def test_detection_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        detect_format(tmp_path / "missing")
    with pytest.raises(DataError, match="unknown dataset layout"):
        detect_format(tmp_path)
    make_kaggle(tmp_path, "train", ["1"])
    make_cityscapes_like(tmp_path, "train", ["0/1"], "_image", "_label", 7)
    with pytest.raises(UsageError, match="ambiguous.*--format"):
        detect_format(tmp_path)
    assert open_format(DataSpec(root=str(tmp_path), format="idd-lite")).name == "idd-lite"


def test_usage_errors_for_wrong_options(tmp_path):
    make_kaggle(tmp_path, "train", ["1"])
    with pytest.raises(UsageError, match="unknown format"):
        open_format(DataSpec(root=str(tmp_path), format="coco"))
    with pytest.raises(UsageError, match="--void-as-class"):
        open_format(DataSpec(root=str(tmp_path), format="idd-lite", void_as_class=True))
    fmt = open_format(DataSpec(root=str(tmp_path), void_as_class=True))
    assert fmt.classes.num_classes == 27
    with pytest.raises(DataError, match="split 'test' not found.*train"):
        fmt.list_split("test")


def test_unreadable_folder_is_named(tmp_path, monkeypatch):
    # As root (CI) chmod cannot lock a folder, so the OS error is injected where os.walk reports it.
    make_kaggle(tmp_path, "train", ["1"])
    locked = tmp_path / "train/images/locked"
    real_walk = os.walk

    def walk(top, onerror=None, **kw):
        yield from real_walk(top, onerror=onerror, **kw)
        onerror(PermissionError(13, "Permission denied", str(locked)))

    monkeypatch.setattr("segcompress.data.formats.os.walk", walk)
    with pytest.raises(DataError, match="locked: cannot read folder \\(Permission denied\\)"):
        open_format(DataSpec(root=str(tmp_path))).list_split("train")


def test_real_idd_lite_pairs(idd_lite_root):
    fmt = open_format(DataSpec(root=str(idd_lite_root)))
    assert fmt.name == "idd-lite"
    assert fmt.splits() == ["train", "val"]  # test has no labels
    train, val = fmt.list_split("train"), fmt.list_split("val")
    assert (len(train.pairs), len(val.pairs)) == (1403, 204)
    assert not train.problems and not val.problems
    assert all(p.image.parent.name == p.mask.parent.name for p in train.pairs)


def _folder(tmp_path, masks: list[np.ndarray], colours=((10, 20, 30), (40, 50, 60), (70, 80, 90))):
    """A flat folder dataset with these masks and a 3-class table (with colours, or none)."""
    rows = [f"  - {{id: {i}, name: c{i}" for i in range(3)]
    if colours:
        rows = [f"{r}, color: {list(c)}}}" for r, c in zip(rows, colours, strict=True)]
    else:
        rows = [f"{r}}}" for r in rows]
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "classes.yaml").write_text("classes:\n" + "\n".join(rows) + "\n")
    for i, mask in enumerate(masks):
        save(tmp_path / "ann" / f"{i}.png", mask)
        save(tmp_path / "img" / f"{i}.png", np.zeros((*mask.shape[:2], 3), np.uint8))
    return DataSpec(
        images=str(tmp_path / "img"),
        masks=str(tmp_path / "ann"),
        classes=str(tmp_path / "classes.yaml"),
    )


def test_mask_kind_is_detected_from_the_table_and_the_first_mask(tmp_path):
    from PIL import Image

    ids = np.array([[0, 1], [2, 2]], np.uint8)
    colours = np.array([(10, 20, 30), (40, 50, 60), (70, 80, 90)], np.uint8)
    cases = {
        "index-L": (ids, "index"),  # 8-bit ids, though the table has colours
        "rgb": (colours[ids], "rgb"),
        "grey-rgb": (np.repeat(ids[..., None], 3, axis=2), "index"),  # ids saved as RGB
    }
    for name, (mask, kind) in cases.items():
        fmt = open_format(_folder(tmp_path / name, [mask]))
        assert fmt.mask_kind == kind, name
    no_colours = open_format(_folder(tmp_path / "plain", [colours[ids]], colours=None))
    assert no_colours.mask_kind == "index"

    def palette_case(name: str, palette: list[tuple[int, int, int]]) -> str:
        spec = _folder(tmp_path / name, [ids])
        img = Image.fromarray(ids).convert("P")
        img.putpalette([c for rgb in palette for c in rgb])
        img.save(Path(spec.masks) / "0.png")
        return open_format(spec).mask_kind

    table = [tuple(c) for c in colours.tolist()]
    assert palette_case("p-ids", table) == "index"  # the palette draws each id in its colour
    assert palette_case("p-other", [(1, 1, 1), (2, 2, 2), (3, 3, 3)]) == "index"
    assert palette_case("p-permuted", [table[2], table[0], table[1]]) == "rgb"


def test_mask_kind_given_wins_and_is_checked(tmp_path):
    ids = np.array([[0, 1], [2, 2]], np.uint8)
    spec = _folder(tmp_path / "a", [ids])
    assert open_format(replace(spec, mask_kind="rgb")).mask_kind == "rgb"
    with pytest.raises(UsageError, match="--mask-kind rgb: .* has no colours"):
        open_format(replace(_folder(tmp_path / "b", [ids], colours=None), mask_kind="rgb"))
    with pytest.raises(UsageError, match="choose one of index, rgb"):
        open_format(replace(spec, mask_kind="grey"))
    make_kaggle(tmp_path / "k", "train", ["1"])
    kaggle = DataSpec(root=str(tmp_path / "k"))
    assert open_format(replace(kaggle, mask_kind="rgb")).mask_kind == "rgb"
    with pytest.raises(UsageError, match="applies to --format folder; idd-kaggle masks are rgb"):
        open_format(replace(kaggle, mask_kind="index"))


def test_spec_dict_leaves_a_detected_mask_kind_out():
    # Cache folders are named from this dict: datasets that never set a mask kind keep theirs.
    assert "mask_kind" not in DataSpec(root="r").to_dict()
    assert DataSpec(root="r", mask_kind="index").to_dict()["mask_kind"] == "index"
    assert DataSpec.from_dict(DataSpec(root="r").to_dict()) == DataSpec(root="r")


def test_a_flat_folder_is_one_split_named_all(tmp_path):
    spec = _folder(tmp_path, [np.zeros((4, 4), np.uint8)])
    fmt = open_format(spec)
    assert fmt.is_flat and fmt.splits() == ["all"]
    assert [p.key for p in fmt.list_split("all").pairs] == ["0"]
    with pytest.raises(DataError, match="no split 'train' .*data holdout --split all"):
        fmt.list_split("train")
