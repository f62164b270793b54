"""`--unlabeled` asks for cached teacher targets: it implies --precompute-teacher in distill,
and in train (no teacher) its error names the flag, not config keys."""

from __future__ import annotations

import pytest

from segcompress.cli import build_parser
from segcompress.cli.train import _resolve_config
from segcompress.errors import UsageError


def _config(*argv: str):
    args = build_parser().parse_args([str(a) for a in argv])
    return _resolve_config(args, args.command)[0]


def test_unlabeled_implies_cached_teacher_targets(tmp_path):
    cfg = _config("distill", "--data", tmp_path, "--teacher", "t.pt", "--unlabeled", tmp_path)
    assert cfg.data.unlabeled == [str(tmp_path)] and cfg.distill.precompute_teacher is True


def test_distill_without_unlabeled_keeps_the_live_teacher(tmp_path):
    cfg = _config("distill", "--data", tmp_path, "--teacher", "t.pt")
    assert cfg.distill.precompute_teacher is False


def test_unlabeled_in_train_names_the_flag(tmp_path):
    with pytest.raises(UsageError, match=r"^--unlabeled: .*segcompress distill"):
        _config("train", "--data", tmp_path, "--unlabeled", tmp_path)
