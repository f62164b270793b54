from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    confusion_matrix,
    jaccard_score,
    precision_recall_fscore_support,
)
from torchmetrics.classification import MulticlassStatScores

from segcompress.errors import DataError, UsageError
from segcompress.metrics import ConfusionMatrix, compute_scores, format_table, scores_to_dict

IGNORE = 255
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def _labels(shape, num_classes, seed, ignore_frac=0.2):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    target[torch.rand(shape, generator=g) < ignore_frac] = IGNORE
    pred = torch.randint(0, num_classes, shape, generator=g)
    # Make predictions agree with the target often, so scores are not all near 1/C.
    agree = (torch.rand(shape, generator=g) < 0.6) & (target != IGNORE)
    pred[agree] = target[agree]
    return pred, target


@pytest.mark.parametrize("device", DEVICES)
def test_matrix_matches_sklearn_and_torchmetrics(device):
    c = 6
    pred, target = _labels((3, 16, 12), c, seed=0)
    cm = ConfusionMatrix(c)
    cm.update(pred.to(device), target.to(device))
    assert cm.matrix.dtype == torch.int64
    assert cm.matrix.device.type == device
    keep = target != IGNORE
    ref = confusion_matrix(target[keep].numpy(), pred[keep].numpy(), labels=list(range(c)))
    np.testing.assert_array_equal(cm.matrix.cpu().numpy(), ref)

    stats = MulticlassStatScores(num_classes=c, average="none", ignore_index=IGNORE)
    tp, fp, _, fn, support = stats(pred, target).T
    m = cm.matrix.cpu()
    torch.testing.assert_close(m.diag(), tp)
    torch.testing.assert_close(m.sum(0) - m.diag(), fp)
    torch.testing.assert_close(m.sum(1) - m.diag(), fn)
    torch.testing.assert_close(m.sum(1), support)


def test_scores_match_sklearn():
    c = 5
    pred, target = _labels((4, 10, 10), c, seed=1)
    target[target == 3] = 0  # class 3 absent from the ground truth, but still predicted
    cm = ConfusionMatrix(c)
    cm.update(pred, target)
    scores = compute_scores(cm.matrix, [f"c{i}" for i in range(c)])

    keep = target != IGNORE
    y, p = target[keep].numpy(), pred[keep].numpy()
    labels = list(range(c))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p, labels=labels, zero_division=0
    )
    iou = jaccard_score(y, p, labels=labels, average=None, zero_division=0)
    present = [i for i in labels if support[i] > 0]
    assert present == [0, 1, 2, 4]
    for i in labels:
        s = scores.classes[i]
        assert s.support == support[i]
        if i in present:
            assert s.precision == pytest.approx(precision[i])
            assert s.recall == pytest.approx(recall[i])
            assert s.dice == pytest.approx(f1[i])
            assert s.iou == pytest.approx(iou[i])
        else:
            assert (s.dice, s.iou, s.precision, s.recall) == (None, None, None, None)
    assert scores.mean["iou"] == pytest.approx(np.mean(iou[present]))
    assert scores.mean["dice"] == pytest.approx(np.mean(f1[present]))
    assert scores.mean["precision"] == pytest.approx(np.mean(precision[present]))
    assert scores.mean["recall"] == pytest.approx(np.mean(recall[present]))
    assert scores.pixel_accuracy == pytest.approx(float(np.mean(y == p)))
    freq = support[present] / support.sum()
    assert scores.fw_iou == pytest.approx(float(np.sum(freq * iou[present])))


def test_accumulation_equals_concatenation_not_the_mean_of_batches():
    c = 4
    batches = [_labels((2, 8, 8), c, seed=s) for s in range(3)]
    cm = ConfusionMatrix(c)
    for pred, target in batches:
        cm.update(pred, target)
    whole = ConfusionMatrix(c)
    whole.update(torch.cat([p for p, _ in batches]), torch.cat([t for _, t in batches]))
    torch.testing.assert_close(cm.matrix, whole.matrix)

    # Constructed case: batch 1 is small and wrong, batch 2 large and right. Dataset IoU of class 0
    # is 100/104; the mean of the two batch IoUs would be (0 + 1) / 2.
    t1, p1 = torch.zeros(1, 2, 2, dtype=torch.long), torch.ones(1, 2, 2, dtype=torch.long)
    t2 = torch.zeros(1, 10, 10, dtype=torch.long)
    per_batch = []
    cm = ConfusionMatrix(2)
    for p, t in [(p1, t1), (t2.clone(), t2)]:
        cm.update(p, t)
        one = ConfusionMatrix(2)
        one.update(p, t)
        per_batch.append(compute_scores(one.matrix).classes[0].iou)
    assert compute_scores(cm.matrix).classes[0].iou == pytest.approx(100 / 104)
    assert np.mean(per_batch) == pytest.approx(0.5)


def test_logits_are_argmaxed_and_ignored_pixels_do_not_count():
    c = 3
    target = torch.tensor([[[0, 1, IGNORE], [2, IGNORE, 1]]])
    logits = torch.randn(1, c, 2, 3)
    cm = ConfusionMatrix(c)
    cm.update(logits, target)
    pred = logits.argmax(1)
    keep = target != IGNORE
    ref = confusion_matrix(target[keep].numpy(), pred[keep].numpy(), labels=[0, 1, 2])
    np.testing.assert_array_equal(cm.matrix.numpy(), ref)
    assert cm.matrix.sum() == 4


def test_custom_ignore_index_merge_and_reset():
    a, b = ConfusionMatrix(3, ignore_index=-1), ConfusionMatrix(3, ignore_index=-1)
    a.update(torch.tensor([0, 1, 2]), torch.tensor([0, -1, 2]))
    b.update(torch.tensor([1, 1]), torch.tensor([1, 0]))
    assert a.merge(b) is a
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    torch.testing.assert_close(a.matrix, expected)
    a.reset()
    assert a.matrix.sum() == 0 and a.matrix.shape == (3, 3)
    with pytest.raises(UsageError):
        a.merge(ConfusionMatrix(4))


def test_all_reduce_is_a_noop_without_and_sums_with_a_process_group(tmp_path):
    import torch.distributed as dist

    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    before = cm.matrix.clone()
    assert cm.all_reduce() is cm
    torch.testing.assert_close(cm.matrix, before)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        cm.all_reduce()
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(cm.matrix, before)  # one process: the sum is itself


def test_bad_labels_and_shapes_are_reported():
    cm = ConfusionMatrix(3)
    with pytest.raises(DataError, match=r"outside 0\.\.2"):
        cm.update(torch.tensor([0, 1]), torch.tensor([0, 7]))
    with pytest.raises(UsageError, match="do not match"):
        cm.update(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(UsageError, match="class names"):
        compute_scores(cm.matrix, ["a", "b"])


def test_edge_cases_never_predicted_class_and_no_valid_pixels():
    # Class 1 is in the ground truth but never predicted: precision 0 by rule, not NaN.
    m = torch.tensor([[5, 0, 0], [2, 0, 0], [0, 0, 0]])
    scores = compute_scores(m, ["a", "b", "c"])
    b = scores.classes[1]
    assert (b.precision, b.recall, b.iou, b.dice) == (0.0, 0.0, 0.0, 0.0)
    assert scores.classes[2].iou is None
    assert scores.mean["precision"] == pytest.approx((5 / 7 + 0) / 2)
    empty = compute_scores(torch.zeros(3, 3, dtype=torch.long))
    assert empty.pixel_accuracy is None and empty.fw_iou is None
    assert all(v is None for v in empty.mean.values())
    assert "null" in json.dumps(scores_to_dict(empty))


def test_scores_to_dict_shape():
    m = torch.tensor([[3, 1, 0], [0, 2, 0], [1, 0, 0]])
    d = scores_to_dict(compute_scores(m, ["road", "car", "sky"]))
    assert set(d) == {"classes", "mean", "pixel_accuracy", "fw_iou"}
    assert [set(c) for c in d["classes"]] == [
        {"id", "name", "dice", "iou", "precision", "recall", "support"}
    ] * 3
    assert set(d["mean"]) == {"dice", "iou", "precision", "recall"}
    assert d["classes"][0] == {
        "id": 0,
        "name": "road",
        "dice": pytest.approx(6 / 8),
        "iou": pytest.approx(3 / 5),
        "precision": pytest.approx(3 / 4),
        "recall": pytest.approx(3 / 4),
        "support": 4,
    }
    assert d["pixel_accuracy"] == pytest.approx(5 / 7)
    json.dumps(d)  # plain types only


def test_format_table_markdown_and_text():
    m = torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    scores = compute_scores(m, ["road", "car", "sky"])
    md = format_table(scores)
    lines = md.splitlines()
    assert lines[0] == "| Class | Dice | IoU | Precision | Recall |"
    assert lines[2].startswith("| road (0) | 0.8571 | 0.7500 | 1.0000 | 0.7500 |")
    assert lines[4] == "| sky (2) | — | — | — | — |"
    mean_iou = (3 / 4 + 2 / 3) / 2
    assert lines[5].startswith(f"| **Mean** | **{(6 / 7 + 0.8) / 2:.4f}** | **{mean_iou:.4f}** |")
    assert "left out of the means: sky (2)" in md
    text = format_table(scores, markdown=False)
    assert "**" not in text and "|" not in text
    assert "road (0)" in text and "Mean" in text and "left out of the means" in text


@settings(max_examples=40, deadline=None)
@given(
    num_classes=st.integers(1, 5),
    data=st.data(),
)
def test_property_counts_and_score_ranges(num_classes, data):
    h = data.draw(st.integers(1, 6))
    w = data.draw(st.integers(1, 6))
    label = st.sampled_from([*range(num_classes), IGNORE])
    target = torch.tensor(data.draw(st.lists(label, min_size=h * w, max_size=h * w))).view(1, h, w)
    pred = torch.tensor(
        data.draw(st.lists(st.integers(0, num_classes - 1), min_size=h * w, max_size=h * w))
    ).view(1, h, w)
    cm = ConfusionMatrix(num_classes)
    cm.update(pred, target)
    assert int(cm.matrix.sum()) == int((target != IGNORE).sum())
    scores = compute_scores(cm.matrix)
    for c in scores.classes:
        assert (c.support > 0) == (c.iou is not None)
        if c.iou is not None:
            assert c.iou <= c.dice + 1e-12
            for value in (c.dice, c.iou, c.precision, c.recall):
                assert 0.0 <= value <= 1.0 and not math.isnan(value)
    values = [*scores.mean.values(), scores.pixel_accuracy, scores.fw_iou]
    assert all(v is None or 0.0 <= v <= 1.0 for v in values)


def test_image_miou_matches_sklearn_per_image():
    """Each image's score is sklearn's macro Jaccard over the classes in its ground truth."""
    from sklearn.metrics import jaccard_score

    from segcompress.metrics import image_miou

    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 5, (4, 9, 11), generator=g)
    target[0][target[0] == 4] = 2  # image 0 lacks class 4: it must not count there
    target[1, :3] = 255  # ignored rows
    pred = torch.where(
        torch.rand(4, 9, 11, generator=g) < 0.6,
        target,
        torch.randint(0, 6, (4, 9, 11), generator=g),
    )
    pred[1, :3] = 5  # predictions on ignored pixels do not count
    got = image_miou(pred, target, num_classes=6, ignore_index=255)
    for i in range(4):
        keep = target[i] != 255
        t, p = target[i][keep].numpy(), pred[i][keep].numpy()
        labels = np.unique(t)
        want = jaccard_score(t, p, labels=labels, average="macro", zero_division=0)
        assert got[i].item() == pytest.approx(want)
    empty = image_miou(pred[:1], torch.full_like(target[:1], 255), 6, 255)
    assert torch.isnan(empty).all()
