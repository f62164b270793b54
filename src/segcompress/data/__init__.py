"""Data: class tables, dataset layouts, mask decoding, the Dataset, its cache and statistics.

Names are imported lazily, so tools that only need a class table or a layout (``--help``,
``data check``) do not pay for importing torch.
"""

from __future__ import annotations

from segcompress.lazy import lazy_getattr

_LAZY = {
    "FORMAT_NAMES": ".formats",
    "DataSpec": ".formats",
    "detect_format": ".formats",
    "open_format": ".formats",
    "IDD_LEVEL1": ".classes",
    "IDD_LEVEL2": ".classes",
    "IDD_LEVEL3": ".classes",
    "IGNORE_INDEX": ".classes",
    "ClassTable": ".classes",
    "load_class_table": ".classes",
    "MaskDecoder": ".masks",
    "SegmentationDataset": ".dataset",
    "list_pairs": ".dataset",
    "load_split": ".dataset",
    "prepare_split": ".dataset",
    "MEAN": ".transforms",
    "STD": ".transforms",
    "AugmentConfig": ".transforms",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
