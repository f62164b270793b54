"""``data check``: validate a dataset without training, as a report a person or a tool can read.

Every pair is decoded in full (a truncated JPEG only shows itself when decoded), masks at their
own resolution. Problems are listed per file with a stable ``kind``: orphan-image, orphan-mask,
duplicate-id, unreadable, size-mismatch, unknown-colours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segcompress.data.formats import DataSpec, open_format
from segcompress.data.io import read_image, read_mask
from segcompress.data.masks import DEFAULT_MAX_UNKNOWN, MaskDecoder
from segcompress.errors import DataError

__all__ = ["check_dataset", "format_check"]


def check_dataset(
    spec: DataSpec,
    splits: list[str] | None = None,
    max_unknown: float = DEFAULT_MAX_UNKNOWN,
    progress: bool = False,
) -> dict[str, Any]:
    """The documented report: ``{"format", "splits": {split: {pairs, classes, ...}}}``."""
    from tqdm import tqdm

    fmt = open_format(spec)
    wanted = splits or fmt.splits()
    if not wanted:
        raise DataError(f"{fmt.root}: no splits found; check the dataset layout")
    decoder = MaskDecoder(fmt.classes, fmt.mask_kind, max_unknown=1.0)  # count, never raise
    report: dict[str, Any] = {"format": fmt.name, "splits": {}}
    for split in wanted:
        listing = fmt.list_split(split)
        pixels = np.zeros(fmt.classes.num_classes, dtype=np.int64)
        ignored = 0
        problems = [p.to_dict() for p in listing.problems]
        for pair in tqdm(listing.pairs, desc=f"check {split}", disable=not progress, leave=False):
            try:
                h, w = read_image(pair.image).shape[:2]
            except DataError as exc:
                problems.append({"file": str(pair.image), "kind": "unreadable", "detail": str(exc)})
                h = w = None
            try:
                decoded = decoder.decode(read_mask(pair.mask, fmt.mask_kind), str(pair.mask))
            except DataError as exc:
                problems.append({"file": str(pair.mask), "kind": "unreadable", "detail": str(exc)})
                continue
            counts = np.bincount(decoded.ids.ravel(), minlength=256)
            pixels += counts[: fmt.classes.num_classes]
            ignored += int(decoded.ids.size - counts[: fmt.classes.num_classes].sum())
            mh, mw = decoded.ids.shape
            if h is not None and (h, w) != (mh, mw):
                problems.append(
                    {
                        "file": str(pair.mask),
                        "kind": "size-mismatch",
                        "detail": f"mask {mw}x{mh}, image {w}x{h}",
                    }
                )
            if decoded.unknown_fraction > max_unknown:
                problems.append(
                    {
                        "file": str(pair.mask),
                        "kind": "unknown-colours",
                        "detail": f"{100 * decoded.unknown_fraction:.2f}% of pixels outside the "
                        f"class table: {MaskDecoder.format_unknown(decoded.top_unknown)}",
                    }
                )
        report["splits"][split] = {
            "pairs": len(listing.pairs),
            "classes": [
                {"id": i, "name": name, "pixels": int(pixels[i])}
                for i, name in enumerate(fmt.classes.names)
            ],
            "ignored_pixels": ignored,
            "problems": problems,
        }
    return report


def format_check(report: dict[str, Any]) -> str:
    """A short human-readable summary of a check report."""
    lines = [f"format: {report['format']}"]
    for split, info in report["splits"].items():
        total = sum(c["pixels"] for c in info["classes"]) or 1
        lines.append(
            f"\n[{split}] {info['pairs']} pairs, {len(info['problems'])} problems, "
            f"{info['ignored_pixels']} ignored pixels"
        )
        for c in info["classes"]:
            share = 100 * c["pixels"] / total
            lines.append(f"  {c['id']:>3} {c['name']:<24} {c['pixels']:>14,d} {share:6.2f}%")
        for p in info["problems"][:20]:
            lines.append(f"  ! {p['kind']}: {p['file']}: {p['detail']}")
        if len(info["problems"]) > 20:
            lines.append(f"  ! ... and {len(info['problems']) - 20} more (use --json for all)")
    return "\n".join(lines)
