"""What a segcompress ONNX file says about itself, read without the ``onnx`` package.

``segcompress export`` stores the class table, input size and normalisation as JSON strings
under ``segcompress.*`` keys of the model's ``metadata_props`` (the training package's
``deploy/metadata.py``; format version 1). This module reads those entries straight from the
protobuf bytes (field numbers of onnx.proto), so the vehicle needs neither onnx nor torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segcompress_edge.errors import EdgeError, UsageError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INT8_OP_TYPES",
    "ClassTable",
    "ModelInfo",
    "load_class_table",
    "read_model_info",
]

METADATA_PREFIX = "segcompress."
METADATA_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INT8_OP_TYPES = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger"}
)
# matplotlib's tab20, the training package's colours for a table without its own.
TAB20 = (
    (31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120), (44, 160, 44),
    (152, 223, 138), (214, 39, 40), (255, 152, 150), (148, 103, 189), (197, 176, 213),
    (140, 86, 75), (196, 156, 148), (227, 119, 194), (247, 182, 210), (127, 127, 127),
    (199, 199, 199), (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229),
)  # fmt: skip
# onnx.proto field numbers.
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_GRAPH_NODE, _NODE_OP_TYPE = 1, 4


@dataclass(frozen=True)
class ClassTable:
    """Class names, drawing colours and the ignore index (the export's ``classes`` entry)."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = 255
    void_color: tuple[int, int, int] = (0, 0, 0)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ClassTable:
        """The training package's dict shape: ``{ignore_index, classes: [{id, name, color}]}``."""
        try:
            entries = sorted(data["classes"], key=lambda e: int(e["id"]))
            names = tuple(str(e["name"]) for e in entries)
            if [int(e["id"]) for e in entries] != list(range(len(entries))) or not names:
                raise ValueError("class ids must run 0..N-1")
            colors = [e.get("color") for e in entries]
            if all(c is not None for c in colors):
                palette = tuple(tuple(int(v) for v in c) for c in colors)
            else:
                palette = tuple(TAB20[i % 20] for i in range(len(names)))
            void = data.get("void_color") or (0, 0, 0)
            return cls(names, palette, int(data.get("ignore_index", 255)), tuple(void))
        except (TypeError, KeyError, ValueError) as exc:
            raise EdgeError(f"{source}: not a class table ({exc})") from exc


@dataclass(frozen=True)
class ModelInfo:
    """Everything besides the weights that turning frames into masks needs."""

    classes: ClassTable
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    model_name: str | None = None
    int8: bool = False


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, bytes | int]]:
    """The top-level (field number, value) pairs of a protobuf message."""
    out: list[tuple[int, bytes | int]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            out.append((number, buf[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire}")
    return out


def _props_and_ops(path: Path) -> tuple[dict[str, str], set[str]]:
    data = path.read_bytes()
    props: dict[str, str] = {}
    ops: set[str] = set()
    try:
        fields = _fields(data)
        for number, value in fields:
            if number == _MODEL_METADATA and isinstance(value, bytes):
                entry = dict(_fields(value))
                key, val = entry.get(1, b""), entry.get(2, b"")
                if isinstance(key, bytes) and isinstance(val, bytes):
                    props[key.decode()] = val.decode()
            elif number == _MODEL_GRAPH and isinstance(value, bytes):
                for gnum, node in _fields(value):
                    if gnum == _GRAPH_NODE and isinstance(node, bytes):
                        op = dict(_fields(node)).get(_NODE_OP_TYPE)
                        if isinstance(op, bytes):
                            ops.add(op.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeError(
            f"{path}: not a readable ONNX model ({exc}); the file is corrupt or truncated: "
            "export it again with `segcompress export`"
        ) from exc
    if not any(n == _MODEL_GRAPH for n, _ in fields):
        raise EdgeError(f"{path}: not an ONNX model (no graph); pass a .onnx file")
    return props, ops


def _triple(value: Any, what: str, source: str) -> tuple[float, float, float]:
    floats = tuple(float(v) for v in value)
    if len(floats) != 3 or (what == "std" and min(floats) <= 0):
        raise EdgeError(f"{source}: normalisation {what} must be 3 numbers (std > 0)")
    return floats  # type: ignore[return-value]


def load_class_table(path: str | Path) -> ClassTable:
    """A class table file (JSON, or YAML when PyYAML is installed), as ``--classes`` takes."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--classes {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise UsageError(
                f"--classes {path}: reading YAML needs PyYAML (pip install pyyaml), or pass the "
                "table as JSON"
            ) from exc
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--classes {path}: not valid JSON ({exc})") from exc
    return ClassTable.from_dict(data, f"--classes {path}")


def read_model_info(
    path: str | Path,
    *,
    classes: ClassTable | None = None,
    img_size: tuple[int, int] | None = None,
    graph_size: tuple[int, int] | None = None,
) -> ModelInfo:
    """The file's own metadata; for a foreign file (none stored), ``classes`` and the graph's
    fixed input size (or ``img_size``) supply it, with ImageNet normalisation. Given values
    override stored ones."""
    path = Path(path)
    props, ops = _props_and_ops(path)
    ours = {k[len(METADATA_PREFIX) :]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}
    int8 = bool(ops & INT8_OP_TYPES)
    size = img_size or graph_size
    if not ours:
        if classes is None or size is None:
            need = "--classes FILE" + ("" if size else " and --img-size HxW")
            raise UsageError(
                f"{path}: no segcompress metadata in this ONNX file; pass {need}, or export it "
                "with `segcompress export`"
            )
        return ModelInfo(classes=classes, input_size=size, int8=int8)
    try:
        version = int(ours.get("version", "1"))
        table = ClassTable.from_dict(json.loads(ours["classes"]), str(path))
        stored = json.loads(ours["input_size"])
        norm = json.loads(ours["normalization"])
        mean, std = _triple(norm["mean"], "mean", str(path)), _triple(norm["std"], "std", str(path))
        h, w = (int(v) for v in stored)
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgeError(
            f"{path}: incomplete or unreadable segcompress metadata ({exc}); export it again "
            "with `segcompress export`"
        ) from exc
    if version > METADATA_VERSION:
        raise EdgeError(
            f"{path}: metadata version {version} is newer than this segcompress-edge reads "
            f"({METADATA_VERSION}); upgrade segcompress-edge"
        )
    return ModelInfo(
        classes=classes or table,
        input_size=size or (h, w),
        mean=mean,
        std=std,
        model_name=ours.get("model_name") or None,
        int8=int8,
    )
