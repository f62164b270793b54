"""Per-epoch run logs: ``log.jsonl`` (full rows), ``metrics.csv`` (scalars), TensorBoard if present.

The CSV is rewritten from all rows each epoch (the files are tiny) so its columns are the union of
every row's keys: epochs without evaluation simply leave the validation cells empty. On resume,
rows after the checkpoint's epoch (logged by a run killed before it saved) are dropped, so the
logs of a resumed run read like those of one never interrupted.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from segcompress.fileio import atomic_write_bytes

__all__ = ["RunLog", "read_log"]


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``log.jsonl`` file (empty when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) or value is None


class RunLog:
    """Writes one row per epoch; a no-op on ranks other than 0 (``enabled=False``).

    Args:
        out: run folder.
        enabled: whether this process writes (rank 0 only under DDP).
        keep_until_epoch: on resume, keep earlier rows up to this epoch; ``None`` starts afresh.
    """

    def __init__(self, out: Path, *, enabled: bool, keep_until_epoch: int | None = None) -> None:
        self.out = Path(out)
        self.enabled = enabled
        self.rows: list[dict[str, Any]] = []
        self._tb: Any = None
        if not enabled:
            return
        if keep_until_epoch is not None:
            old = read_log(self.out / "log.jsonl")
            self.rows = [r for r in old if r.get("epoch", 0) <= keep_until_epoch]
        self._write_all()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tb = SummaryWriter(log_dir=str(self.out / "tensorboard"))

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        self._write_all()
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "epoch" and math.isfinite(value):
                    self._tb.add_scalar(key, value, global_step=row.get("epoch", 0))
            self._tb.flush()

    def _write_all(self) -> None:
        # Atomic rewrites: a run killed mid-write keeps readable logs for its --resume.
        lines = "".join(json.dumps(row) + "\n" for row in self.rows)
        atomic_write_bytes(self.out / "log.jsonl", lines.encode("utf-8"))
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k, v in row.items() if _scalar(v) and k not in columns]
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.out / "metrics.csv", table.getvalue().encode("utf-8"))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
