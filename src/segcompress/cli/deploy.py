"""``segcompress export | quantize | benchmark``: ship a trained model to edge CPUs.

The commands parse flags, call :mod:`segcompress.deploy` and print; the work (and every check)
lives in the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from segcompress.cli.common import (
    fraction,
    int_list,
    key_value,
    positive_float,
    positive_int,
    resolve_splits,
    size_arg,
    spec_from_args,
)
from segcompress.cli.flags import add_dataset_args
from segcompress.errors import UsageError
from segcompress.fileio import atomic_write_bytes

__all__ = ["register"]

_MB = 2**20


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _spec(args: argparse.Namespace, root: str | None) -> Any:
    """The DataSpec of the shared dataset flags with ``root`` as the dataset root."""
    if root is None:
        return None
    return dataclasses.replace(spec_from_args(args), root=root)


def _split(spec: Any, split: str, doing: str, flag: str) -> str:
    """``split``, or ``all`` for a folder dataset without split sub-folders (said on stderr)."""
    return split if spec is None else resolve_splits(spec, [split], doing, flag)[0]


def _write_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


# -- export ------------------------------------------------------------------------------------
def _export(args: argparse.Namespace) -> int:
    from segcompress.deploy.onnx_export import export_checkpoint

    data = _spec(args, args.root)
    report = export_checkpoint(
        args.model,
        args.out,
        img_size=args.img_size,
        dynamic=args.dynamic,
        opset=args.opset,
        data=data,
        split=_split(data, args.split, "verifying on it", "--split"),
        n_images=args.verify_n,
        atol=args.atol,
        min_agreement=args.min_agreement,
        model_args=dict(args.model_arg or []),
        verbose=args.debug,
    )
    h, w = report.info.input_size
    shape = "dynamic batch/H/W" if report.dynamic else f"{h}x{w}, dynamic batch"
    print(
        f"export: {report.path} ({report.size_bytes / _MB:.2f} MB, opset {report.opset}, {shape})"
    )
    for check in report.parity:
        print(f"  verified on {check.line()}")
    _write_json(args.json, report.to_dict())
    return 0


# -- quantize ----------------------------------------------------------------------------------
def _quantize(args: argparse.Namespace) -> int:
    from segcompress.deploy.quantize import quantize_dataset

    if args.root is None:
        raise UsageError("quantize needs --calib-data ROOT (a dataset to calibrate on)")
    calib, scored = _spec(args, args.root), _spec(args, args.eval_data)
    eval_split = _split(scored, args.eval_split, "scoring it", "--eval-split")
    report = quantize_dataset(
        args.model,
        args.out,
        calib,
        calib_split=_split(calib, args.calib_split, "calibrating on it", "--calib-split"),
        calib_n=args.calib_n,
        method=args.method,
        eval_data=scored,
        eval_split=eval_split,
        classes=getattr(args, "classes", None),
        img_size=args.img_size,
        batch=args.batch,
        threads=args.threads,
        engine=args.engine,
        runtime=args.runtime,
        fp32_stem=not args.int8_stem,
    )
    print(
        f"quantize: {report.path} ({report.engine}, {report.method} calibration on "
        f"{report.calib_images} images, pre-processing {report.preprocess})"
    )
    ratio = report.fp32_bytes / max(report.int8_bytes, 1)
    print(
        f"  size: {report.fp32_bytes / _MB:.2f} MB -> {report.int8_bytes / _MB:.2f} MB "
        f"({ratio:.1f}x smaller)"
    )
    if report.agreement is not None:
        share = 100 * report.agreement
        print(f"  argmax agreement with FP32: {share:.2f}% ({report.agreement_on})")
    if report.miou_fp32 is not None and report.miou_int8 is not None:
        delta = 100 * (report.miou_int8 - report.miou_fp32)
        print(
            f"  {eval_split} mIoU: FP32 {100 * report.miou_fp32:.2f}, "
            f"INT8 {100 * report.miou_int8:.2f} (INT8 - FP32: {delta:+.2f} points)"
        )
    fp32_ops = ", ".join(f"{k} {v}" for k, v in report.fp32_ops.items()) or "none"
    print(f"  ops left in FP32: {fp32_ops}")
    _write_json(args.json, report.to_dict())
    return 0


# -- benchmark ---------------------------------------------------------------------------------
def _benchmark(args: argparse.Namespace) -> int:
    from segcompress.deploy.benchmark import benchmark, format_markdown, machine_info

    machine = machine_info()
    rows = benchmark(
        args.models,
        backends=args.backends,
        img_size=args.img_size,
        batches=args.batch,
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        isolate=args.isolate,
        calib=_spec(args, args.root),
        calib_n=args.calib_n,
    )
    h, w = args.img_size
    threads = rows[0]["threads"]
    print(
        f"{h}x{w}, {threads} threads, latency p50/p90 at batch {min(args.batch)} over "
        f"{rows[0]['runs']} runs; load average before: {machine['load_average'][0]}"
    )
    print(format_markdown(rows))
    if args.json:
        machine["load_average_after"] = machine_info()["load_average"]
        config = {
            "img_size": [h, w],
            "batches": list(args.batch),
            "threads": threads,
            "runs": args.runs,
            "warmup": args.warmup,
        }
        _write_json(args.json, {"config": config, "machine": machine, "rows": rows})
    if args.markdown:
        atomic_write_bytes(args.markdown, (format_markdown(rows) + "\n").encode())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from segcompress.deploy.options import (
        ALL_BACKENDS,
        CALIBRATION_METHODS,
        DEFAULT_ATOL,
        DEFAULT_BACKENDS,
        DEFAULT_MIN_AGREEMENT,
        QUANTIZE_ENGINES,
        RUNTIMES,
    )

    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to a verified ONNX file with its metadata",
        description="Fuse, export (torch.onnx, dynamo), check and verify against PyTorch; "
        "class table, input size and normalisation are stored in the ONNX metadata. "
        "torch.onnx's own progress lines appear with `segcompress --debug export`.",
    )
    p.add_argument("model", help="checkpoint (.pt) from training")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--img-size", type=size_arg, help="HxW (default: the checkpoint's)")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    p.add_argument("--opset", type=positive_int, help="ONNX opset (default: torch's)")
    p.add_argument(
        "--model-arg",
        dest="model_arg",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="change an export-time model argument, e.g. upsample=nearest (repeatable)",
    )
    p.add_argument("--data", dest="root", help="dataset root: also verify on real images")
    add_dataset_args(p, root_required=False)
    p.add_argument("--split", default="val", help="split of --data (default val)")
    p.add_argument("--verify-n", type=positive_int, default=8, help="real images (default 8)")
    p.add_argument("--atol", type=positive_float, default=DEFAULT_ATOL)
    p.add_argument("--min-agreement", type=fraction, default=DEFAULT_MIN_AGREEMENT)
    p.add_argument("--json", help="write the export report as JSON")
    p.set_defaults(func=_export)

    p = subparsers.add_parser(
        "quantize",
        help="INT8 static quantization (ONNX Runtime, QDQ, per-channel) on dataset images",
        description="Calibrate on dataset images (evaluation preprocessing), quantize, and "
        "compare with FP32 (argmax agreement; mIoU with --eval-data).",
    )
    p.add_argument("model", help="FP32 ONNX file (from `segcompress export`)")
    p.add_argument("--out", required=True, help="INT8 ONNX file to write")
    p.add_argument("--calib-data", dest="root", help="dataset root of the calibration images")
    add_dataset_args(p, root_required=False)
    p.add_argument("--calib-split", default="train", help="calibration split (default train)")
    p.add_argument("--calib-n", type=positive_int, default=64, help="images (default 64)")
    p.add_argument("--method", choices=CALIBRATION_METHODS, default="minmax")
    p.add_argument(
        "--engine",
        choices=QUANTIZE_ENGINES,
        default=QUANTIZE_ENGINES[0],
        help="who writes the QDQ file: onnxruntime (default) or nncf (the openvino extra)",
    )
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=RUNTIMES[0],
        help="runtime that scores FP32 and INT8 (default onnxruntime)",
    )
    p.add_argument(
        "--int8-stem",
        action="store_true",
        help="onnxruntime engine: quantize the image-reading convolution too (kept FP32 by "
        "default: ORT's INT8 kernels saturate there on CPUs without VNNI)",
    )
    p.add_argument("--eval-data", help="dataset root: report FP32 and INT8 mIoU on it")
    p.add_argument("--eval-split", default="val", help="evaluation split (default val)")
    p.add_argument("--img-size", type=size_arg, help="HxW, for ONNX files without metadata")
    p.add_argument("--batch", type=positive_int, default=8, help="evaluation batch (default 8)")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime threads")
    p.add_argument("--json", help="write the report as JSON")
    p.set_defaults(func=_quantize)

    p = subparsers.add_parser(
        "benchmark",
        help="latency, throughput, size and memory per model and backend",
        description="MODEL: a checkpoint, an ONNX file or a registry name (random init, for "
        "architecture-only timing). Each backend runs in its own process.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--img-size", type=size_arg, default=(256, 256), help="HxW (default 256)")
    p.add_argument("--batch", type=int_list, default=(1, 8), help="batch sizes (default 1,8)")
    p.add_argument("--threads", type=positive_int, help="threads (default: all cores)")
    p.add_argument("--runs", type=positive_int, default=50, help="timed runs (default 50)")
    p.add_argument("--warmup", type=positive_int, default=5, help="untimed runs (default 5)")
    p.add_argument(
        "--backends",
        type=_name_list,
        default=DEFAULT_BACKENDS,
        help=f"comma-separated, from {', '.join(ALL_BACKENDS)} (default "
        f"{','.join(DEFAULT_BACKENDS)})",
    )
    p.add_argument("--calib-data", dest="root", help="INT8 calibration dataset (default: random)")
    add_dataset_args(p, root_required=False)
    p.add_argument("--calib-n", type=positive_int, default=16, help="calibration images")
    p.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="measure in this process (faster; memory numbers biased low)",
    )
    p.add_argument("--json", help="write config, machine and rows as JSON")
    p.add_argument("--markdown", help="write the table as Markdown")
    p.set_defaults(func=_benchmark)
