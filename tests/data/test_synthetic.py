"""The synthetic IDD generator: Kaggle layout, determinism, class coverage, shares, validation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segcompress.data import synthetic
from segcompress.data.classes import IDD_LEVEL3, IGNORE_INDEX
from segcompress.data.synthetic import (
    image_rng,
    is_synthesized,
    read_manifest,
    render_scene,
    synthesize,
    writer,
)
from segcompress.errors import UsageError

SMALL = (64, 128)
NAMES = IDD_LEVEL3.names

# SHA-256 pins of the generator's output, recorded with the single-module generator before it
# became a package (Pillow 13.0.0, numpy 2.4.6): any change to a draw, the order of the draws or
# an encoder option changes them. When that is intended, bump GENERATOR_VERSION and re-pin; an
# upgraded Pillow (its libjpeg or zlib) can move the file pins while the render pin holds.
PINNED_SETS = [
    (
        {"n_train": 6, "n_val": 3, "size": (64, 128), "seed": 0},
        "3c2c64a491bdbb2a07694a4f837e146e24c7dee6c282acf92ef3cada21c25efe",
    ),
    (
        {"n_train": 3, "n_val": 2, "size": (96, 160), "seed": 7},
        "0cd6c38b236460d94a0a27f98fa396efef237b436af01bbf783326b268223d8f",
    ),
]
PINNED_RENDERS = "966dd38216b0e2530593fa497dd9fdce880ab016b28847687211cc7be4cfc79c"


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "synth.json"
    }


def _tree_digest(root: Path) -> str:
    """One SHA-256 over every file's relative path and SHA-256, in sorted order."""
    lines = [
        f"{p.relative_to(root).as_posix()} {hashlib.sha256(p.read_bytes()).hexdigest()}\n"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _decode_mask(path: Path) -> np.ndarray:
    """RGB mask -> level-3 ids via the palette (void black -> 255); -1 marks foreign colours."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int64)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    colors = np.asarray([*IDD_LEVEL3.colors, IDD_LEVEL3.void_color], dtype=np.int64)
    table = (colors[:, 0] << 16) | (colors[:, 1] << 8) | colors[:, 2]
    ids = np.asarray([*range(IDD_LEVEL3.num_classes), IGNORE_INDEX])
    order = np.argsort(table)
    pos = np.clip(np.searchsorted(table[order], keys), 0, len(table) - 1)
    found = table[order][pos] == keys
    return np.where(found, ids[order][pos], -1)


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, np.ndarray]]:
    return [render_scene(image_rng(11, "train", i), (128, 256)) for i in range(48)]


def test_kaggle_layout_names_and_manifest(tmp_path: Path) -> None:
    summary = synthesize(tmp_path / "ds", n_train=3, n_val=2, size=SMALL, seed=5)
    root = tmp_path / "ds"
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    expected = {"synth.json"}
    for split, ids in (("train", range(3)), ("val", range(3, 5))):
        expected |= {f"{split}/images/{i:07d}_leftImg8bit.jpg" for i in ids}
        expected |= {f"{split}/rgb_labels/{i:07d}_gtFine_polygons.png" for i in ids}
    assert files == expected
    with Image.open(root / "train/images/0000000_leftImg8bit.jpg") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (128, 64))
    with Image.open(root / "val/rgb_labels/0000004_gtFine_polygons.png") as im:
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (128, 64))
    assert summary["n_train"] == 3 and summary["n_val"] == 2
    assert summary["size"] == [64, 128] and summary["seed"] == 5 and summary["seconds"] > 0
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["complete"] is True and manifest["version"] == synthetic.GENERATOR_VERSION
    assert (manifest["n_train"], manifest["n_val"], manifest["size"]) == (3, 2, [64, 128])
    assert is_synthesized(root, n_train=3, n_val=2, size=SMALL, seed=5)
    assert not is_synthesized(root, n_train=3, n_val=2, size=SMALL, seed=6)
    assert not is_synthesized(root, n_train=3, n_val=2, size=(64, 64), seed=5)
    assert not is_synthesized(tmp_path / "missing", n_train=3, n_val=2, size=SMALL, seed=5)


def test_same_arguments_give_identical_bytes_and_seeds_differ(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", n_train=3, n_val=1, size=SMALL, seed=1)
    synthesize(tmp_path / "b", n_train=3, n_val=1, size=SMALL, seed=1)
    synthesize(tmp_path / "c", n_train=3, n_val=1, size=SMALL, seed=2)
    ha, hb, hc = (_hashes(tmp_path / n) for n in "abc")
    assert len(ha) == 8 and ha == hb
    assert set(ha) == set(hc)
    assert all(ha[k] != hc[k] for k in ha)  # every file depends on the seed
    assert a["seed"] == 1


@pytest.mark.parametrize(("kwargs", "digest"), PINNED_SETS)
def test_written_files_match_the_pinned_hashes(tmp_path: Path, kwargs, digest) -> None:
    synthesize(tmp_path, **kwargs)
    assert _tree_digest(tmp_path) == digest, "output changed: bump GENERATOR_VERSION and re-pin"


def test_rendered_arrays_match_the_pinned_hash() -> None:
    """The pixels and labels before encoding (independent of the JPEG and PNG encoders)."""
    digest = hashlib.sha256()
    for i in range(16):
        size = [(64, 128), (45, 77), (128, 256), (96, 160)][i % 4]
        image, label = render_scene(image_rng(3, "val", i), size)
        digest.update(image.tobytes())
        digest.update(label.tobytes())
    assert digest.hexdigest() == PINNED_RENDERS, "output changed: bump GENERATOR_VERSION, re-pin"


def test_each_file_depends_only_on_seed_split_and_index(tmp_path: Path) -> None:
    synthesize(tmp_path / "few", n_train=2, n_val=1, size=SMALL, seed=3)
    synthesize(tmp_path / "more", n_train=4, n_val=2, size=SMALL, seed=3)
    few, more = tmp_path / "few", tmp_path / "more"
    name = "train/images/0000001_leftImg8bit.jpg"
    assert (few / name).read_bytes() == (more / name).read_bytes()
    # val index 0 is id 2 in the first run and id 4 in the second: same pixels, new id
    assert (few / "val/images/0000002_leftImg8bit.jpg").read_bytes() == (
        more / "val/images/0000004_leftImg8bit.jpg"
    ).read_bytes()


def test_masks_are_lossless_palette_images_of_the_rendered_labels(tmp_path: Path) -> None:
    synthesize(tmp_path, n_train=3, n_val=2, size=SMALL, seed=9)
    for split, index, file_id in (("train", 0, 0), ("train", 2, 2), ("val", 1, 4)):
        decoded = _decode_mask(tmp_path / f"{split}/rgb_labels/{file_id:07d}_gtFine_polygons.png")
        assert (decoded >= 0).all(), "mask holds a colour outside the palette"
        _, label = render_scene(image_rng(9, split, index), SMALL)
        np.testing.assert_array_equal(decoded, label)


def test_jpeg_quality_varies_between_images(tmp_path: Path) -> None:
    synthesize(tmp_path, n_train=6, n_val=0, size=SMALL, seed=0, progress=True)
    tables = set()
    for path in sorted((tmp_path / "train/images").iterdir()):
        with Image.open(path) as im:
            tables.add(tuple(im.quantization[0]))
    assert len(tables) > 1


def test_render_scene_shapes_and_dtypes() -> None:
    image, label = render_scene(np.random.default_rng(0), (45, 77))
    assert image.shape == (45, 77, 3) and image.dtype == np.uint8
    assert label.shape == (45, 77) and label.dtype == np.uint8
    valid = (label < IDD_LEVEL3.num_classes) | (label == IGNORE_INDEX)
    assert valid.all()


def test_all_classes_occur_with_idd_like_imbalance(scenes) -> None:
    counts = np.zeros(256, dtype=np.int64)
    for _, label in scenes:
        counts += np.bincount(label.ravel(), minlength=256)
    missing = [NAMES[c] for c in range(IDD_LEVEL3.num_classes) if counts[c] == 0]
    assert not missing, f"classes never drawn: {missing}"
    share = counts[: IDD_LEVEL3.num_classes] / counts.sum()
    top5 = {NAMES[c] for c in np.argsort(-share)[:5]}
    assert {"road", "sky", "vegetation", "building"} <= top5
    for name in ("pole", "traffic light", "rider", "bicycle"):
        assert share[NAMES.index(name)] < 0.01, (name, share[NAMES.index(name)])
    assert share[NAMES.index("road")] > 0.15
    assert 0 < counts[IGNORE_INDEX] / counts.sum() < 0.1  # bonnet / out-of-ROI frames only


def test_colour_alone_does_not_give_the_class(scenes) -> None:
    """Nearest class-mean colour on held-out pixels stays far from perfect (no label colours)."""
    pixels = np.concatenate([img.reshape(-1, 3) for img, _ in scenes]).astype(np.float32)
    labels = np.concatenate([lab.ravel() for _, lab in scenes])
    half = len(labels) // 2
    fit_x, fit_y, test_x, test_y = pixels[:half], labels[:half], pixels[half:], labels[half:]
    keep = test_y != IGNORE_INDEX
    test_x, test_y = test_x[keep][::7], test_y[keep][::7]
    classes = [c for c in range(IDD_LEVEL3.num_classes) if (fit_y == c).any()]
    means = np.stack([fit_x[fit_y == c].mean(0) for c in classes])
    nearest = np.asarray(classes)[((test_x[:, None] - means[None]) ** 2).sum(-1).argmin(1)]
    assert (nearest == test_y).mean() < 0.5


def test_rerun_with_other_arguments_removes_stale_files(tmp_path: Path) -> None:
    synthesize(tmp_path, n_train=4, n_val=2, size=SMALL, seed=0)
    synthesize(tmp_path, n_train=2, n_val=1, size=SMALL, seed=0)
    names = sorted(p.name for p in (tmp_path / "train/images").iterdir())
    assert names == ["0000000_leftImg8bit.jpg", "0000001_leftImg8bit.jpg"]
    assert sorted(p.name for p in (tmp_path / "val/rgb_labels").iterdir()) == [
        "0000002_gtFine_polygons.png"
    ]
    assert is_synthesized(tmp_path, n_train=2, n_val=1, size=SMALL, seed=0)
    assert not is_synthesized(tmp_path, n_train=4, n_val=2, size=SMALL, seed=0)


def test_unlabeled_frames_have_no_masks_keep_the_labelled_files_and_are_listed(
    tmp_path: Path,
) -> None:
    from segcompress.data.dataset import list_pairs
    from segcompress.data.formats import DataSpec
    from segcompress.data.unlabeled import list_unlabeled

    synthesize(tmp_path / "plain", n_train=2, n_val=1, size=SMALL, seed=4)
    summary = synthesize(tmp_path / "ds", n_train=2, n_val=1, n_unlabeled=3, size=SMALL, seed=4)
    root = tmp_path / "ds"
    assert summary["n_unlabeled"] == 3
    names = sorted(p.name for p in (root / "unlabeled").rglob("*") if p.is_file())
    assert names == [f"{i:07d}_leftImg8bit.jpg" for i in (3, 4, 5)]  # ids after val, no masks
    assert _hashes(root / "train") == _hashes(tmp_path / "plain" / "train")  # labelled unchanged
    assert _hashes(root / "val") == _hashes(tmp_path / "plain" / "val")
    assert len(set(_hashes(root / "unlabeled").values())) == 3  # frames of their own
    assert is_synthesized(root, n_train=2, n_val=1, n_unlabeled=3, size=SMALL, seed=4)
    assert not is_synthesized(root, n_train=2, n_val=1, size=SMALL, seed=4)
    assert is_synthesized(tmp_path / "plain", n_train=2, n_val=1, size=SMALL, seed=4)
    assert "n_unlabeled" not in json.loads((tmp_path / "plain" / "synth.json").read_text())
    # the labelled splits stay the only splits; the frames are what --unlabeled reads
    layout, listing = list_pairs(DataSpec(root=str(root), format="idd-kaggle"), "train")
    assert layout.splits() == ["train", "val"]
    assert [p.key for p in listing.pairs] == ["0000000", "0000001"]
    assert len(list_unlabeled([root / "unlabeled"])) == 3
    synthesize(root, n_train=2, n_val=1, size=SMALL, seed=4)  # fewer frames: stale ones go
    assert not any((root / "unlabeled" / "images").iterdir())


def test_interrupted_run_leaves_whole_files_and_an_incomplete_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = writer.render_scene
    calls = []

    def failing(rng, size):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(rng, size)

    monkeypatch.setattr(writer, "render_scene", failing)
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path, n_train=4, n_val=0, size=SMALL, seed=0)
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(".tmp")]
    assert len([f for f in files if f.endswith(".jpg")]) == 2
    assert read_manifest(tmp_path)["complete"] is False
    assert not is_synthesized(tmp_path, n_train=4, n_val=0, size=SMALL, seed=0)
    monkeypatch.setattr(writer, "render_scene", real)
    synthesize(tmp_path, n_train=4, n_val=0, size=SMALL, seed=0)  # resumable in place
    assert is_synthesized(tmp_path, n_train=4, n_val=0, size=SMALL, seed=0)


def test_rerun_removes_temporaries_of_killed_writes_but_not_foreign_files(tmp_path: Path) -> None:
    synthesize(tmp_path, n_train=2, n_val=1, size=SMALL, seed=0)
    stale = [
        "train/images/.0000001_leftImg8bit.jpg.k3x9_q2a.tmp",  # fileio's temporary name
        "val/rgb_labels/.0000002_gtFine_polygons.png.tmp",  # the name before fileio
        ".synth.json.a8f2kq0z.tmp",
    ]
    for name in stale:
        (tmp_path / name).write_bytes(b"half")
    (tmp_path / "train/images/notes.txt").write_text("mine")
    synthesize(tmp_path, n_train=2, n_val=1, size=SMALL, seed=0)
    assert not [name for name in stale if (tmp_path / name).exists()]
    assert (tmp_path / "train/images/notes.txt").read_text() == "mine"
    assert is_synthesized(tmp_path, n_train=2, n_val=1, size=SMALL, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n_train": -1, "n_val": 1}, "n_train"),
        ({"n_train": 1, "n_val": 2.5}, "n_val"),
        ({"n_train": 0, "n_val": 0}, "n_train + n_val"),
        ({"n_train": 1, "n_val": 0, "size": (16, 64)}, "size"),
        ({"n_train": 1, "n_val": 0, "size": (64, 0)}, "size"),
        ({"n_train": 1, "n_val": 0, "size": (64,)}, "size"),
        ({"n_train": 1, "n_val": 0, "seed": -3}, "seed"),
        ({"n_train": 1, "n_val": 0, "n_unlabeled": -1}, "n_unlabeled"),
    ],
)
def test_bad_arguments_raise_usage_error_naming_them(tmp_path: Path, kwargs, named) -> None:
    with pytest.raises(UsageError, match=named.replace("+", r"\+")) as info:
        synthesize(tmp_path / "ds", **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_refuses_a_foreign_non_empty_folder_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="out"):
        synthesize(tmp_path, n_train=1, n_val=0, size=SMALL)
    with pytest.raises(UsageError, match="out"):
        synthesize(tmp_path / "notes.txt", n_train=1, n_val=0, size=SMALL)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_render_scene_rejects_tiny_sizes() -> None:
    with pytest.raises(UsageError, match="size"):
        render_scene(np.random.default_rng(0), (31, 64))
