"""Unlabelled frames: found recursively in any image format, bad files named, and mixed with
the labelled batch like every other target."""

from __future__ import annotations

import pytest
import torch

from segcompress.data.classes import IDD_LEVEL1
from segcompress.data.mixing import BatchMix, MixCollate
from segcompress.data.unlabeled import UnlabeledDataset, list_unlabeled
from segcompress.errors import DataError
from tests.data.builders import image_for, random_ids, save


@pytest.fixture
def frames(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    top = tmp_path / "frames"
    for rel in ("a/1.jpg", "a/b/2.png", "c/3.webp", ".hidden/4.png"):
        save(top / rel, image_for(random_ids(rng, (20, 30), 7)))
    return top


def test_frames_are_found_recursively_with_stable_keys(frames, tmp_path):
    pairs = list_unlabeled([frames])
    assert [p.key for p in pairs] == ["unlabeled0/a/1", "unlabeled0/a/b/2", "unlabeled0/c/3"]
    data = UnlabeledDataset(pairs, IDD_LEVEL1, (16, 24), train=False)
    image, mask = data[1]
    assert image.shape == (3, 16, 24) and mask.shape == (16, 24)


def test_bad_files_and_empty_folders_are_named(frames, tmp_path):
    (frames / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.txt: not an image.*--skip-bad"):
        list_unlabeled([frames])
    assert len(list_unlabeled([frames], skip_bad=True)) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no image"):
        list_unlabeled([frames, empty], skip_bad=True)
    with pytest.raises(DataError, match="no such folder"):
        list_unlabeled([tmp_path / "nope"])
    broken = frames / "c" / "3.webp"
    broken.write_bytes(b"truncated")
    data = UnlabeledDataset(
        list_unlabeled([frames], skip_bad=True), IDD_LEVEL1, (16, 24), train=False
    )
    with pytest.raises(DataError, match=r"3\.webp"):
        data[2]


def test_validity_maps_are_mixed_with_the_same_plan():
    torch.manual_seed(0)
    n, h, w = 4, 8, 8
    batch = []
    for i in range(n):
        image = torch.full((3, h, w), float(i))
        mask = torch.full((h, w), i, dtype=torch.long)
        logits = torch.full((2, h, w), float(10 * i))
        valid = torch.full((h, w), i % 2 == 0)
        batch.append((image, (mask, logits, valid)))
    images, (masks, logits, valid) = MixCollate(BatchMix("cutmix", prob=1.0))(batch)
    source = images[:, 0].long()  # which sample each pixel came from
    assert (source != torch.arange(n)[:, None, None]).any()  # something was pasted
    assert torch.equal(masks, source) and torch.equal(logits[:, 0].long(), 10 * source)
    assert torch.equal(valid, source % 2 == 0)
