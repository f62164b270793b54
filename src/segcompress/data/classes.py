"""Class tables: names, optional RGB colours and the ignore index, as data.

IDD level-3 (26 classes), level-2 (16) and level-1 (7) are built in; any other table loads
from a YAML or JSON file of the shape::

    ignore_index: 255
    classes:
      - {id: 0, name: road, color: [128, 64, 128]}
      - {id: 1, name: car, color: [0, 0, 142]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from segcompress.errors import DataError

__all__ = [
    "IDD_LEVEL1",
    "IDD_LEVEL2",
    "IDD_LEVEL3",
    "IDD_VOID_COLOR",
    "IGNORE_INDEX",
    "ClassTable",
    "load_class_table",
]

IGNORE_INDEX = 255
IDD_VOID_COLOR = (0, 0, 0)

Color = tuple[int, int, int]


@dataclass(frozen=True)
class ClassTable:
    """An ordered list of classes; class ``i`` has ``names[i]`` and, when known, ``colors[i]``."""

    names: tuple[str, ...]
    colors: tuple[Color, ...] | None = None
    ignore_index: int = IGNORE_INDEX
    void_color: Color | None = None

    def __post_init__(self) -> None:
        if not self.names:
            raise DataError("a class table needs at least one class")
        if len(set(self.names)) != len(self.names):
            raise DataError(f"class names must be unique, got {list(self.names)}")
        if self.colors is not None:
            if len(self.colors) != len(self.names):
                raise DataError("a class table needs a colour for every class or for none")
            if len(set(self.colors)) != len(self.colors):
                raise DataError("two classes share a colour; colours must be unique")
        if 0 <= self.ignore_index < len(self.names):
            raise DataError(
                f"ignore_index {self.ignore_index} collides with class id {self.ignore_index}; "
                "use an id outside 0..num_classes-1 (255 by convention)"
            )

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def has_colors(self) -> bool:
        return self.colors is not None

    def with_void_class(self, name: str = "void") -> ClassTable:
        """The same table plus the void colour as one more class (the earlier 27-class setting)."""
        if self.void_color is None or self.colors is None:
            raise DataError("this class table has no void colour to keep as a class")
        return ClassTable(
            names=(*self.names, name),
            colors=(*self.colors, self.void_color),
            ignore_index=self.ignore_index,
        )

    def palette(self) -> list[Color]:
        """Colours for drawing masks: the table's own, or a fixed, distinct set when it has none."""
        if self.colors is not None:
            return list(self.colors)
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
        return [
            tuple(int(255 * c) for c in cmap(i % 20)[:3])  # type: ignore[misc]
            for i in range(self.num_classes)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so the table can live inside checkpoints and ONNX metadata."""
        classes = []
        for i, name in enumerate(self.names):
            entry: dict[str, Any] = {"id": i, "name": name}
            if self.colors is not None:
                entry["color"] = list(self.colors[i])
            classes.append(entry)
        out: dict[str, Any] = {"ignore_index": self.ignore_index, "classes": classes}
        if self.void_color is not None:
            out["void_color"] = list(self.void_color)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "class table") -> ClassTable:
        """Build a table from the documented dict shape; ``source`` names it in errors."""
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise DataError(f"{source}: expected a mapping with a 'classes' list")
        unknown = set(data) - {"ignore_index", "classes", "void_color"}
        if unknown:
            raise DataError(f"{source}: unknown keys {sorted(unknown)}")
        entries = data["classes"]
        try:
            entries = sorted(entries, key=lambda e: int(e["id"]))
            ids = [int(e["id"]) for e in entries]
            names = tuple(str(e["name"]) for e in entries)
        except (TypeError, KeyError, ValueError) as exc:
            raise DataError(f"{source}: every class needs an integer 'id' and a 'name'") from exc
        if ids != list(range(len(ids))):
            raise DataError(f"{source}: class ids must run 0..{len(ids) - 1}, got {ids}")
        with_color = [e for e in entries if e.get("color") is not None]
        colors = None
        if with_color:
            if len(with_color) != len(entries):
                raise DataError(f"{source}: give a colour for every class or for none")
            colors = tuple(_color(e["color"], source) for e in entries)
        void = data.get("void_color")
        try:
            ignore_index = int(data.get("ignore_index", IGNORE_INDEX))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: ignore_index must be an integer") from exc
        return cls(
            names=names,
            colors=colors,
            ignore_index=ignore_index,
            void_color=_color(void, source) if void is not None else None,
        )


def _color(value: Any, source: str) -> Color:
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    if ok and all(isinstance(c, int) and 0 <= c <= 255 for c in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise DataError(f"{source}: a colour must be three integers 0..255, got {value!r}")


def load_class_table(path: str | Path) -> ClassTable:
    """Load a class table from a YAML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the class file ({exc.strerror})") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid YAML/JSON ({exc})") from exc
    return ClassTable.from_dict(data, source=str(path))


# IDD level-3, from the official AutoNUE label definitions (the 26 classes its evaluator scores).
_IDD_LEVEL3 = [
    ("road", (128, 64, 128)),
    ("drivable fallback", (250, 170, 160)),
    ("sidewalk", (244, 35, 232)),
    ("non-drivable fallback", (230, 150, 140)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
    ("autorickshaw", (255, 204, 54)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("vehicle fallback", (0, 0, 90)),
    ("curb", (220, 190, 40)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("guard rail", (180, 165, 180)),
    ("billboard", (174, 64, 67)),
    ("traffic sign", (220, 220, 0)),
    ("traffic light", (250, 170, 30)),
    ("pole", (153, 153, 153)),
    ("obs-str-bar-fallback", (169, 187, 214)),
    ("building", (70, 70, 70)),
    ("bridge", (150, 100, 100)),
    ("vegetation", (107, 142, 35)),
    ("sky", (70, 130, 180)),
]

IDD_LEVEL3 = ClassTable(
    names=tuple(n for n, _ in _IDD_LEVEL3),
    colors=tuple(c for _, c in _IDD_LEVEL3),
    void_color=IDD_VOID_COLOR,
)

# IDD level-2 (16 classes: level-3 classes grouped as in the AutoNUE label definitions).
IDD_LEVEL2 = ClassTable(
    names=(
        "road",
        "drivable fallback",
        "sidewalk",
        "non-drivable fallback",
        "living thing",
        "rider",
        "two-wheeler",
        "car",
        "large vehicle",
        "barrier",
        "fence",
        "structures",
        "pole",
        "construction",
        "vegetation",
        "sky",
    ),
    colors=(
        (128, 64, 128),
        (250, 170, 160),
        (244, 35, 232),
        (230, 150, 140),
        (220, 20, 60),
        (255, 0, 0),
        (0, 0, 230),
        (255, 204, 54),
        (0, 0, 70),
        (220, 190, 40),
        (190, 153, 153),
        (174, 64, 67),
        (153, 153, 153),
        (70, 70, 70),
        (107, 142, 35),
        (70, 130, 180),
    ),
)

# IDD level-1 (IDD-Lite): 7 classes; colours of a representative member, for drawing.
IDD_LEVEL1 = ClassTable(
    names=(
        "drivable",
        "non-drivable",
        "living things",
        "vehicles",
        "roadside objects",
        "far objects",
        "sky",
    ),
    colors=(
        (128, 64, 128),
        (244, 35, 232),
        (220, 20, 60),
        (0, 0, 230),
        (220, 190, 40),
        (70, 70, 70),
        (70, 130, 180),
    ),
)
