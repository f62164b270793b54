"""Data: class tables, dataset layouts, mask decoding, the Dataset, its cache and statistics."""

from __future__ import annotations

from segcompress.data.classes import (
    IDD_LEVEL1,
    IDD_LEVEL2,
    IDD_LEVEL3,
    IGNORE_INDEX,
    ClassTable,
    load_class_table,
)
from segcompress.data.dataset import SegmentationDataset, list_pairs, load_split, prepare_split
from segcompress.data.formats import FORMAT_NAMES, DataSpec, detect_format, open_format
from segcompress.data.masks import MaskDecoder
from segcompress.data.transforms import MEAN, STD, AugmentConfig

__all__ = [
    "FORMAT_NAMES",
    "IDD_LEVEL1",
    "IDD_LEVEL2",
    "IDD_LEVEL3",
    "IGNORE_INDEX",
    "MEAN",
    "STD",
    "AugmentConfig",
    "ClassTable",
    "DataSpec",
    "MaskDecoder",
    "SegmentationDataset",
    "detect_format",
    "list_pairs",
    "load_class_table",
    "load_split",
    "open_format",
    "prepare_split",
]
