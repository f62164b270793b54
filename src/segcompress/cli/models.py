"""``segcompress models``: cost profile of every registered model (the library computes it).

Parameters, FLOPs, fp32 size and CPU latency at batch 1 of each model in its deployed (fused)
form; see :mod:`segcompress.models.profile`.
"""

from __future__ import annotations

import argparse
import json

from segcompress.cli.common import positive_int, size_arg

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list models with parameters, FLOPs, size and CPU latency",
        description="Profile registered models (fused for inference) on this CPU.",
    )
    parser.add_argument(
        "--img-size", type=size_arg, default=(256, 256), help="input size N or HxW (default 256)"
    )
    parser.add_argument(
        "--models", default=None, help="comma-separated model names (default: all registered)"
    )
    parser.add_argument(
        "--runs", type=positive_int, default=10, help="timed forward passes (median reported)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads while timing (default: torch's default)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(func=run)


def _names(text: str | None) -> list[str] | None:
    """Validate ``--models`` against the registry (aliases allowed) before any work starts."""
    from segcompress.errors import UsageError
    from segcompress.models.registry import list_models

    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = list_models(include_aliases=True)
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise UsageError(
            f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; "
            f"known models: {', '.join(known)}"
        )
    return names


def run(args: argparse.Namespace) -> int:
    import torch

    from segcompress.models.profile import profile_models

    rows = profile_models(_names(args.models), args.img_size, runs=args.runs, threads=args.threads)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    h, w = args.img_size
    threads = args.threads or torch.get_num_threads()
    print(
        f"Models at {h}x{w}, batch 1, fused for inference. FLOPs = 2 x MAC, conv/matmul only. "
        f"Latency: torch eager on CPU, {threads} thread(s), median of {args.runs} runs."
    )
    header = f"{'name':<16}{'params (M)':>12}{'GFLOPs':>10}{'size (MB)':>11}{'latency (ms)':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<16}{r['params'] / 1e6:>12.3f}{r['flops'] / 1e9:>10.2f}"
            f"{r['size_mb']:>11.2f}{r['latency_ms']:>14.1f}"
        )
    return 0
