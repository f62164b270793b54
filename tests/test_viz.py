"""Pictures: what they show, not only that they exist.

Figures are checked twice: through the matplotlib figure ``viz`` hands to its save step (the
data each artist was given: curve points, image panels, cell values, titles, legend), and
through the PNG it wrote, read back with PIL (the panels' colours are on the page).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from segcompress import viz
from segcompress.data.classes import IDD_LEVEL1, ClassTable
from segcompress.viz import (
    colorize,
    denormalize,
    overlay,
    plot_comparison,
    plot_confusion,
    plot_curves,
)

# Three classes with colours and a void colour, and the same names without colours.
COLOURED = ClassTable(
    names=("road", "car", "sky"),
    colors=((128, 64, 128), (0, 0, 142), (70, 130, 180)),
    void_color=(5, 6, 7),
)
PLAIN = ClassTable(names=("a", "b", "c", "d"))


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The figure behind each PNG, by file name, captured as ``viz`` saves it (and still saved)."""
    drawn: dict[str, Any] = {}
    real_save = viz.save_figure

    def save(fig: Any, path: str | Path) -> None:
        drawn[Path(path).name] = fig
        real_save(fig, path)

    monkeypatch.setattr(viz, "save_figure", save)
    return drawn


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def _share(picture: np.ndarray, color: tuple[int, int, int]) -> float:
    """Fraction of the picture's pixels that are exactly ``color``."""
    return float((picture == np.asarray(color, np.uint8)).all(-1).mean())


# -- arrays --------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", [IDD_LEVEL1, COLOURED, PLAIN], ids=["idd1", "void", "plain"])
def test_colorize_maps_every_id_to_its_palette_colour(table: ClassTable) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([*range(table.num_classes), table.ignore_index, table.num_classes, 200])
    mask = rng.choice(ids, size=(9, 11))
    mask[0, : len(ids)] = ids  # every id at least once
    rgb = colorize(mask, table, ignore_color=(9, 9, 9))
    assert rgb.shape == (9, 11, 3) and rgb.dtype == np.uint8
    palette = table.palette()
    assert len(set(palette)) == table.num_classes  # the check below tells classes apart
    void = table.void_color or (9, 9, 9)  # the table's void colour wins over ignore_color
    for i, row in enumerate(mask):
        for j, class_id in enumerate(row):
            expected = palette[class_id] if class_id < table.num_classes else void
            assert tuple(rgb[i, j]) == tuple(expected), (class_id, table.names)


def test_colorize_ignore_colour_defaults_to_black() -> None:
    rgb = colorize(np.array([[255, 1]]), IDD_LEVEL1)
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 1]) == IDD_LEVEL1.colors[1]


def test_denormalize_inverts_normalisation() -> None:
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    x = (torch.from_numpy(rgb).permute(2, 0, 1) / 255 - torch.tensor(mean)[:, None, None]) / (
        torch.tensor(std)[:, None, None]
    )
    back = denormalize(x, mean, std)
    assert back.shape == rgb.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb).max() <= 1
    np.testing.assert_array_equal(denormalize(x.numpy(), mean, std), back)  # arrays too


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.6, 1.0])
def test_overlay_blends_at_the_given_alpha(alpha: float) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    mask = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    out = overlay(image, mask, alpha)
    assert out.shape == image.shape and out.dtype == np.uint8
    expected = (1 - alpha) * image.astype(float) + alpha * mask.astype(float)
    assert np.abs(out - expected).max() <= 0.5 + 1e-6  # rounded to the nearest level
    if alpha == 0:
        np.testing.assert_array_equal(out, image)
    if alpha == 1:
        np.testing.assert_array_equal(out, mask)


def test_overlay_default_alpha_is_a_half() -> None:
    white, black = np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert (overlay(white, black) == 128).all()  # 127.5 rounds up


# -- figures -------------------------------------------------------------------------------------
def test_curves_plot_the_logged_values(tmp_path: Path, figures: dict[str, Any]) -> None:
    rows = [
        {"epoch": 1, "train_loss": 2.0, "val_miou": 0.1},
        {"epoch": 2, "train_loss": 1.5},  # not evaluated this epoch
        {"epoch": 3, "train_loss": 1.25, "val_miou": None},
        {"epoch": 4, "train_loss": 1.0, "val_miou": 0.3},
    ]
    plot_curves(rows, tmp_path / "curves.png")
    loss_ax, miou_ax = figures["curves.png"].axes
    (loss,) = loss_ax.lines
    np.testing.assert_allclose(loss.get_xydata(), [[1, 2.0], [2, 1.5], [3, 1.25], [4, 1.0]])
    (miou,) = miou_ax.lines
    np.testing.assert_allclose(miou.get_xydata(), [[1, 0.1], [4, 0.3]])  # evaluated epochs only
    assert miou_ax.get_ylim() == (0, 1)
    assert [ax.get_title() for ax in (loss_ax, miou_ax)] == ["Loss", "Validation mIoU"]
    picture = _png(tmp_path / "curves.png")
    assert picture.shape[1] > picture.shape[0]  # two plots side by side


def test_confusion_shows_the_row_normalised_matrix(tmp_path: Path, figures: dict[str, Any]):
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])  # class 1 never in the ground truth
    plot_confusion(torch.from_numpy(counts), COLOURED.names, tmp_path / "cm.png")
    ax = figures["cm.png"].axes[0]  # the second axes is the colour bar
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert ax.images[0].get_clim() == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(COLOURED.names)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(COLOURED.names)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted", "Ground truth")
    cells = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert cells == {((j, i), f"{shown[i, j]:.2f}") for i in range(3) for j in range(3)}
    assert _png(tmp_path / "cm.png").shape[0] > 100


def test_confusion_of_many_classes_has_no_cell_labels(tmp_path, figures):
    names = [f"c{i}" for i in range(13)]
    plot_confusion(np.eye(13) * 4, names, tmp_path / "cm.png")
    ax = figures["cm.png"].axes[0]
    assert not ax.texts
    np.testing.assert_array_equal(ax.images[0].get_array(), np.eye(13))


def test_comparison_grid_panels_hold_the_images_and_masks(tmp_path: Path, figures):
    height, width = 16, 32
    images = [
        np.full((height, width, 3), (10, 200, 30), np.uint8),
        np.full((height, width, 3), (250, 240, 5), np.uint8),
    ]
    road, car, void = (np.full((height, width), v) for v in (0, 1, 255))
    masks = [(road, car), (car, void)]  # ground truth and prediction per image
    titles = ("Input", "Truth", "Guess")
    plot_comparison(images, masks, COLOURED, tmp_path / "cmp.png", titles=titles)

    fig = figures["cmp.png"]
    assert len(fig.axes) == 6  # 2 rows x 3 columns
    expected = [[images[0], road, car], [images[1], car, void]]
    for index, ax in enumerate(fig.axes):
        r, c = divmod(index, 3)
        spec = ax.get_subplotspec()
        assert (spec.rowspan.start, spec.colspan.start) == (r, c)
        panel = np.asarray(ax.images[0].get_array())
        want = expected[r][c] if c == 0 else colorize(expected[r][c], COLOURED)
        np.testing.assert_array_equal(panel, want)
        assert ax.get_title() == (titles[c] if r == 0 else "")
        assert not ax.get_xticks().size and not ax.get_yticks().size
    # Each panel is 3 inches wide and keeps the images' aspect ratio.
    np.testing.assert_allclose(fig.get_size_inches(), [3 * 3.0, 2 * 3.0 * height / width])
    (legend,) = fig.legends  # the classes shown, not the void
    assert [t.get_text() for t in legend.get_texts()] == ["road (0)", "car (1)"]

    # On the page: every panel's colour fills its share of the picture; absent ones do not.
    picture = _png(tmp_path / "cmp.png")
    panel_share = {
        (10, 200, 30): 1,
        (250, 240, 5): 1,
        COLOURED.colors[0]: 1,
        COLOURED.colors[1]: 2,
        COLOURED.void_color: 1,
    }
    one = _share(picture, (10, 200, 30))
    assert one > 0.05
    for color, panels in panel_share.items():
        assert _share(picture, color) == pytest.approx(panels * one, rel=0.15), color
    assert _share(picture, COLOURED.colors[2]) < 0.001  # "sky" appears in no mask


def test_comparison_without_masks_is_one_column_of_images(tmp_path, figures) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    plot_comparison([image, image], [(), ()], COLOURED, tmp_path / "cmp.png")
    fig = figures["cmp.png"]
    assert len(fig.axes) == 2 and not fig.legends
    assert [ax.get_title() for ax in fig.axes] == ["Input", ""]
