"""``segcompress data ...``: synthesize, check, prepare and summarise datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from segcompress.cli.common import (
    non_negative_int,
    resolve_splits,
    size_arg,
    spec_from_args,
)
from segcompress.cli.flags import add_dataset_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="synthesize, check, prepare and summarise datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "synth",
        help="write the offline synthetic driving-scene dataset (IDD Kaggle layout)",
        description="Procedural driving scenes in the idd-kaggle layout and IDD level-3 palette.",
    )
    p.add_argument("out", help="output folder")
    p.add_argument(
        "--n-train", type=non_negative_int, default=200, help="training images (default 200)"
    )
    p.add_argument(
        "--n-val", type=non_negative_int, default=50, help="validation images (default 50)"
    )
    p.add_argument(
        "--n-unlabeled",
        type=non_negative_int,
        default=0,
        help="frames without masks in OUT/unlabeled/images, for distill --unlabeled (default 0)",
    )
    p.add_argument("--size", type=size_arg, default=(256, 512), help="HxW (default 256x512)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_synth)

    p = sub.add_parser(
        "check",
        help="validate a dataset: pairs, orphans, unreadable files, sizes, colours, class counts",
        description="Exit 0 when there are no problems, 1 when there are, 2 on usage errors.",
    )
    add_dataset_args(p)
    p.add_argument("--split", action="append", help="split to check (repeatable; default: all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "prepare",
        help="decode and resize a split once into the cache that training then uses",
    )
    add_dataset_args(p)
    p.add_argument("--split", action="append", help="split(s) to prepare (default: train, val)")
    p.add_argument("--img-size", type=size_arg, required=True, help="N or HxW, e.g. 256x512")
    p.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: ~/.cache)")
    p.add_argument("--skip-bad", action="store_true", help="leave unreadable/orphan files out")
    p.set_defaults(func=_prepare)

    p = sub.add_parser(
        "holdout",
        help="write a fixed list of training frames to hold out for choosing methods",
        description="Hold out whole groups (drive folders) of a split, so that methods and "
        "hyperparameters are chosen on them and the reported split is scored once.",
    )
    add_dataset_args(p)
    p.add_argument("--out", required=True, help="holdout file to write (commit it)")
    p.add_argument("--split", default="train", help="split to hold frames out of (default train)")
    p.add_argument("--fraction", type=float, default=0.15, help="share held out (default 0.15)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_holdout)

    p = sub.add_parser("stats", help="per-class pixel counts, shares and class weights of a split")
    add_dataset_args(p)
    p.add_argument("--split", default="train", help="split (default train)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: ~/.cache)")
    p.add_argument("--skip-bad", action="store_true", help="leave orphan files out")
    p.set_defaults(func=_stats)


def _synth(args: argparse.Namespace) -> int:
    from segcompress.data.synthetic import synthesize

    summary = synthesize(
        args.out,
        n_train=args.n_train,
        n_val=args.n_val,
        size=args.size,
        seed=args.seed,
        n_unlabeled=args.n_unlabeled,
        progress=True,
    )
    print(json.dumps(summary))
    return 0


def _holdout(args: argparse.Namespace) -> int:
    from segcompress.data.dataset import list_pairs
    from segcompress.data.holdout import make_holdout, write_holdout
    from segcompress.errors import UsageError

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out}: exists; pass --overwrite to replace it")
    if getattr(args, "holdout", None) is not None:
        raise UsageError("--holdout: not used by `data holdout`, which writes the file (--out)")
    spec = spec_from_args(args)
    (split,) = resolve_splits(spec, [args.split], "holding frames out of it")
    _, listing = list_pairs(spec, split)
    keys = [p.key for p in listing.pairs]
    chosen = make_holdout(keys, args.fraction, args.seed)
    groups = "whole folders (drives)" if any("/" in k for k in keys) else "single frames"
    write_holdout(out, split, chosen, len(keys), f"{groups}, seed {args.seed}")
    print(f"holdout: {len(chosen)} of {len(keys)} '{split}' frames -> {out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from segcompress.data.check import check_dataset, format_check

    spec = spec_from_args(args)
    splits = resolve_splits(spec, args.split, "checking it") if args.split else None
    report = check_dataset(spec, splits, progress=not args.json)
    print(json.dumps(report, indent=1) if args.json else format_check(report))
    return 1 if any(s["problems"] for s in report["splits"].values()) else 0


def _prepare(args: argparse.Namespace) -> int:
    from segcompress.data.dataset import prepare_split

    spec = spec_from_args(args)
    for split in resolve_splits(spec, args.split or ["train", "val"], "preparing it"):
        cache, n, bad = prepare_split(
            spec,
            split,
            img_size=args.img_size,
            skip_bad=args.skip_bad,
            cache_dir=args.cache_dir,
            progress=True,
        )
        skipped = f", {len(bad)} bad files skipped" if bad else ""
        h, w = args.img_size
        print(f"{split}: {n} pairs at {h}x{w} -> {cache.directory}{skipped}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from segcompress.data.stats import WEIGHT_METHODS, class_weights, split_stats

    spec = spec_from_args(args)
    (split,) = resolve_splits(spec, [args.split], "summarising it")
    stats = split_stats(
        spec,
        split,
        skip_bad=args.skip_bad,
        cache_dir=args.cache_dir,
        progress=not args.json,
    )
    weights = {m: class_weights(stats, m) for m in WEIGHT_METHODS}
    out = stats.to_dict()
    for entry in out["classes"]:
        for m, w in weights.items():
            entry[f"weight_{m}"] = round(float(w[entry["id"]]), 4)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{split}: {out['images']} masks, {out['ignored_pixels']:,d} ignored pixels")
    print(
        f"{'id':>3} {'class':<24} {'pixels':>14} {'share %':>8} {'median-freq':>11} {'inv-log':>8}"
    )
    for e in out["classes"]:
        print(
            f"{e['id']:>3} {e['name']:<24} {e['pixels']:>14,d} {100 * e['share']:8.3f} "
            f"{e['weight_median-freq']:11.3f} {e['weight_inverse-log']:8.3f}"
        )
    return 0
