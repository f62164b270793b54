"""CPU benchmark of models across backends on one harness (:mod:`segcompress.deploy.runtime`).

A model is a training checkpoint, an ONNX file or a registry name (random initialisation, for
architecture-only timing). Checkpoints and registry models are run in PyTorch (eager, and
optionally channels_last or ``torch.compile``) and, exported to ONNX at the benchmark size
(fixed height/width, dynamic batch), as FP32 and INT8 files (static QDQ, calibrated on
``calibration`` images or, without data, on smooth random images: fine for timing, not for
accuracy), each run by ONNX Runtime (``onnx-*``) and by OpenVINO (``openvino-*``; skipped, said
in one line, when it is not installed). An ONNX file runs as it is (its precision follows from
its graph), in each runtime asked for.

Measured per (model, backend):

* ``params`` / ``flops``: of the fused architecture (FLOPs = 2 x MAC, conv/matmul only; see
  :mod:`segcompress.models.profile`); for an ONNX file, of the architecture named in its
  metadata (None for a foreign file).
* ``file_mb``: the ONNX file, or for torch the fused model's ``state_dict`` as ``torch.save``
  writes it (training checkpoints also carry optimizer state, which is not deployed).
* latency: wall time of one ``predictor(batch)`` call (``time.perf_counter``), ``warmup`` untimed
  calls first, then ``runs`` timed calls at the smallest batch and ``max(10, runs // batch)`` at
  larger ones; p50 and p90 of those, and throughput = batch / mean latency (images per second).
  A plain loop (``models.profile.time_calls``), not ``torch.utils.benchmark.Timer``: that times
  blocks of calls sized by a time budget, or adds two untimed calls to every ``timeit(1)``, while
  ``runs`` and the percentiles here are of exactly that many single calls.
* memory: each backend runs in a fresh Python process (``isolate=True``); after imports the
  kernel's peak-RSS mark is reset (``/proc/self/clear_refs``), and ``peak_delta_mb`` is the peak
  resident set (``VmHWM``) at the end minus the resident set before the model was loaded: weights,
  runtime arenas, activations and workspaces, without the interpreter and libraries
  (``peak_rss_mb`` is the whole process). In-process (``isolate=False``) numbers are reported
  but are biased low by memory a previous backend left cached.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.formats import DataSpec
from segcompress.deploy.metadata import ModelInfo, inference_checkpoint
from segcompress.deploy.options import DEFAULT_BACKENDS
from segcompress.deploy.registry import BACKENDS, GRAPH_RUNTIMES
from segcompress.deploy.runtime import (
    fixed_input_size,
    is_int8,
    is_onnx_file,
    load_onnx,
    load_predictor,
)
from segcompress.errors import DataError, UsageError
from segcompress.models.profile import time_calls

__all__ = [
    "BENCH_KEYS",
    "ModelSource",
    "benchmark",
    "format_markdown",
    "machine_info",
    "measure_backend",
    "resolve_source",
]

# Keys of every result row (``timings`` holds one entry per batch size).
BENCH_KEYS = (
    "model",
    "backend",
    "source",
    "params",
    "flops",
    "file_mb",
    "input_size",
    "threads",
    "latency_p50_ms",
    "latency_p90_ms",
    "runs",
    "throughput_ips",
    "throughput_batch",
    "peak_rss_mb",
    "peak_delta_mb",
    "isolated",
    "calibration",
    "timings",
)
MIN_RUNS_LARGE_BATCH = 10
_KIB_PER_MB = 1024  # /proc reports kB (KiB); MB here are MiB
_BYTES_PER_MB = 2**20
_CALIB_SEED = 0


@dataclass(frozen=True)
class ModelSource:
    """What a MODEL argument names: ``kind`` is registry, checkpoint or onnx."""

    label: str
    kind: str
    path: Path | None = None


def resolve_source(spec: str | Path) -> ModelSource:
    """An existing file (checkpoint or ONNX) or a registry model name."""
    from segcompress.models.registry import list_models

    path = Path(spec)
    if path.is_file():
        kind = "onnx" if is_onnx_file(path) else "checkpoint"
        return ModelSource(path.name, kind, path)
    names = list_models(include_aliases=True)
    if str(spec) in names:
        return ModelSource(str(spec), "registry")
    raise UsageError(
        f"{spec}: neither a model file nor a registry name; give a checkpoint (.pt), an ONNX "
        f"file or one of: {', '.join(list_models())}"
    )


# -- measuring (runs in a child process when isolated) ---------------------------------------
def _proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure_backend(
    path: str,
    backend: str,
    img_size: tuple[int, int],
    batches: Sequence[int],
    threads: int,
    runs: int,
    warmup: int,
) -> dict[str, Any]:
    """Latency, throughput and memory of one backend on one file (see the module docstring)."""
    import onnxruntime  # noqa: F401  (loaded before the baseline, like torch, for every backend)

    spec = BACKENDS.get(backend)
    GRAPH_RUNTIMES.get(spec.runtime).require()  # the library's own memory is not the model's
    torch.set_num_threads(threads)
    reset = _reset_peak()
    base = _proc_status()["VmRSS"]
    predictor = load_predictor(
        path, device="cpu", threads=threads, channels_last=spec.channels_last, runtime=spec.runtime
    )
    fn: Any = predictor
    if spec.compile:
        model = torch.compile(predictor.model)

        def fn(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

    generator = torch.Generator().manual_seed(0)
    timings = []
    smallest = min(batches)
    for batch in batches:
        n = runs if batch == smallest else max(MIN_RUNS_LARGE_BATCH, runs // batch)
        x = torch.randn(batch, 3, *img_size, generator=generator)
        times = time_calls(fn, x, n, warmup)
        timings.append(
            {
                "batch": batch,
                "runs": n,
                "p50_ms": float(np.percentile(times, 50)),
                "p90_ms": float(np.percentile(times, 90)),
                "mean_ms": statistics.fmean(times),
                "throughput_ips": batch * 1000.0 / statistics.fmean(times),
            }
        )
    status = _proc_status()
    return {
        "timings": timings,
        "peak_rss_mb": status["VmHWM"] / _KIB_PER_MB,
        "peak_delta_mb": max(0, status["VmHWM"] - base) / _KIB_PER_MB if reset else None,
    }


def _measure(isolate: bool, *args: Any) -> dict[str, Any]:
    """:func:`measure_backend` here, or (``isolate``) in a fresh interpreter whose last stdout
    line is the JSON result: a new process per backend, so memory peaks are its own."""
    if not isolate:
        return measure_backend(*args)
    code = "import sys; from segcompress.deploy.benchmark import _worker; _worker(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if proc.returncode != 0 or not isinstance(result, dict):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"{args[0]}: benchmark process for {args[1]} failed ({tail})")
    if "error" in result:
        raise DataError(result["error"])
    return result


def _worker(spec: str) -> None:
    """Entry point of an isolated measurement: JSON arguments in, one JSON line out."""
    from segcompress.errors import SegcompressError

    path, backend, img_size, batches, threads, runs, warmup = json.loads(spec)
    try:
        result = measure_backend(path, backend, tuple(img_size), batches, threads, runs, warmup)
    except SegcompressError as exc:
        result = {"error": str(exc)}
    print(json.dumps(result))


# -- preparing the files each backend runs ---------------------------------------------------
def _model_and_info(source: ModelSource, img_size: tuple[int, int]) -> tuple[Any, ModelInfo]:
    """The torch model and its ModelInfo: from the checkpoint, or a random-init registry model."""
    from segcompress.deploy.metadata import info_from_checkpoint
    from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
    from segcompress.models.registry import create_model

    if source.kind == "checkpoint":
        state = load_checkpoint(source.path)
        return model_from_checkpoint(state, str(source.path)), info_from_checkpoint(state)
    torch.manual_seed(0)
    model = create_model(source.label).eval()
    return model, ModelInfo.of_model(model, img_size, IDD_LEVEL3)


def _costs(model: Any, img_size: tuple[int, int]) -> tuple[int, int]:
    from segcompress.models.fuse import fuse
    from segcompress.models.profile import count_flops, count_params

    fused = fuse(model)
    return count_params(fused), count_flops(fused, img_size)


def _torch_file_mb(model: Any) -> float:
    from segcompress.models.fuse import fuse

    buffer = io.BytesIO()
    torch.save(fuse(model).state_dict(), buffer)
    return buffer.tell() / _BYTES_PER_MB


def _calibration(
    info: ModelInfo, img_size: tuple[int, int], calib: DataSpec | None, n: int
) -> tuple[torch.Tensor, str]:
    from segcompress.data.dataset import load_split
    from segcompress.deploy.samples import dataset_images, smooth_images

    if calib is None:
        return smooth_images(n, img_size, _CALIB_SEED), f"{n} smooth random images"
    dataset = load_split(calib, "train", img_size=img_size, train=False)
    return dataset_images(dataset, n, info), f"{min(n, len(dataset))} images of {calib.root}"


def _onnx_costs(path: Path, img_size: tuple[int, int]) -> tuple[int | None, int | None, str]:
    """Architecture costs from an ONNX file's metadata, and its backend."""
    from segcompress.deploy.metadata import info_from_props
    from segcompress.models.registry import create_model, saved_model_args

    proto = load_onnx(path)
    backend = "onnx-int8" if is_int8(proto) else "onnx-fp32"
    fixed = fixed_input_size(proto)
    if fixed is not None and fixed != tuple(img_size):
        raise UsageError(
            f"{path}: exported for {fixed[0]}x{fixed[1]} inputs; pass --img-size "
            f"{fixed[0]}x{fixed[1]} or re-export it with --dynamic"
        )
    info = info_from_props({p.key: p.value for p in proto.metadata_props}, str(path))
    if info is None or info.model_name is None:
        return None, None, backend
    saved = saved_model_args(info.model_name, info.model_args)
    args = {k: v for k, v in saved.items() if k != "num_classes"}
    model = create_model(info.model_name, num_classes=info.classes.num_classes, **args)
    params, flops = _costs(model.eval(), img_size)
    return params, flops, backend


def _installed(backends: Sequence[str]) -> tuple[str, ...]:
    """``backends`` without those of a runtime that is not installed (said in one line each)."""
    missing: dict[str, list[str]] = {}
    for name in backends:
        runtime = GRAPH_RUNTIMES.get(BACKENDS.get(name).runtime)
        if not runtime.available():
            missing.setdefault(runtime.name, []).append(name)
    for runtime_name, names in missing.items():
        runtime = GRAPH_RUNTIMES.get(runtime_name)
        print(
            f"benchmark: skipping {', '.join(names)}: the {runtime.package} package is not "
            f"installed ({runtime.install_hint})",
            file=sys.stderr,
        )
    return tuple(b for b in backends if all(b not in names for names in missing.values()))


def benchmark(
    models: Sequence[str | Path],
    *,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    img_size: tuple[int, int] = (256, 256),
    batches: Sequence[int] = (1, 8),
    threads: int | None = None,
    runs: int = 50,
    warmup: int = 5,
    isolate: bool = True,
    calib: DataSpec | None = None,
    calib_n: int = 16,
    workdir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One row (keys :data:`BENCH_KEYS`) per model and backend; see the module docstring."""
    from segcompress.deploy.onnx_export import export_model
    from segcompress.deploy.quantize import quantize_onnx
    from segcompress.engine.checkpoint import save_checkpoint

    specs = {b: BACKENDS.get(b) for b in backends}  # an unknown name: a one-line UsageError
    if runs < 1 or warmup < 0 or not batches or min(batches) < 1:
        raise UsageError("runs and batch sizes must be positive and warmup non-negative")
    threads = threads or os.cpu_count() or 1
    sources = [resolve_source(m) for m in models]
    backends = _installed(backends)

    def of_file(kind: str) -> list[str]:
        return [b for b in backends if specs[b].file == kind]

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for source in sources:
            plan: list[tuple[str, Path, float]] = []  # backend, file, file size (MB)
            calibration = None
            if source.kind == "onnx":
                assert source.path is not None
                params, flops, own = _onnx_costs(source.path, img_size)
                size_mb = source.path.stat().st_size / _BYTES_PER_MB
                same = [b for b in of_file(BACKENDS.get(own).file) if b != own]
                plan += [(b, source.path, size_mb) for b in [own, *same]]
            else:
                model, info = _model_and_info(source, img_size)
                params, flops = _costs(model, img_size)
                stem = Path(source.label).stem
                torch_path = source.path
                if source.kind == "registry":
                    torch_path = work / f"{stem}.pt"
                    save_checkpoint(inference_checkpoint(model, info), torch_path)
                assert torch_path is not None
                plan += [(b, torch_path, _torch_file_mb(model)) for b in of_file("torch")]
                onnx_info = ModelInfo(**{**info.__dict__, "input_size": tuple(img_size)})
                fp32 = work / f"{stem}.onnx"
                if of_file("fp32") or of_file("int8"):
                    export_model(model, fp32, onnx_info)
                    fp32_mb = fp32.stat().st_size / _BYTES_PER_MB
                    plan += [(b, fp32, fp32_mb) for b in of_file("fp32")]
                if of_file("int8"):
                    images, calibration = _calibration(onnx_info, img_size, calib, calib_n)
                    int8 = work / f"{stem}.int8.onnx"
                    quantize_onnx(fp32, int8, images)
                    int8_mb = int8.stat().st_size / _BYTES_PER_MB
                    plan += [(b, int8, int8_mb) for b in of_file("int8")]
            for backend, path, file_mb in plan:
                args = (str(path), backend, tuple(img_size), tuple(batches), threads, runs, warmup)
                result = _measure(isolate, *args)
                first, last = result["timings"][0], result["timings"][-1]
                rows.append(
                    {
                        "model": source.label,
                        "backend": backend,
                        "source": source.kind,
                        "params": params,
                        "flops": flops,
                        "file_mb": round(file_mb, 3),
                        "input_size": list(img_size),
                        "threads": threads,
                        "latency_p50_ms": first["p50_ms"],
                        "latency_p90_ms": first["p90_ms"],
                        "runs": first["runs"],
                        "throughput_ips": last["throughput_ips"],
                        "throughput_batch": last["batch"],
                        "peak_rss_mb": result["peak_rss_mb"],
                        "peak_delta_mb": result["peak_delta_mb"],
                        "isolated": isolate,
                        "calibration": calibration
                        if BACKENDS.get(backend).file == "int8"
                        else None,
                        "timings": result["timings"],
                    }
                )
    return rows


def machine_info() -> dict[str, Any]:
    """CPU, core count, load average and library versions, to read timings in context."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    from segcompress.deploy.openvino_runtime import openvino_version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": _isa_flags(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": openvino_version(),
        "python": platform.python_version(),
    }


# CPU features that decide which INT8/BF16 kernels the runtimes can use.
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def _isa_flags() -> list[str]:
    """Which of :data:`_ISA_FLAGS` this CPU has (``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln.split(":", 1)[1].split() for ln in fh if ln.startswith("flags")), [])
    except OSError:
        return []
    return [f for f in _ISA_FLAGS if f in flags]


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of benchmark rows."""
    if not rows:
        raise DataError("no benchmark results to format")
    batch = rows[0]["throughput_batch"]
    lines = [
        "| model | backend | params (M) | GFLOPs | file MB | p50 ms | p90 ms "
        f"| img/s (batch {batch}) | peak +MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        params = None if r["params"] is None else r["params"] / 1e6
        flops = None if r["flops"] is None else r["flops"] / 1e9
        lines.append(
            f"| {r['model']} | {r['backend']} | {_num(params, '.3f')} | {_num(flops, '.2f')} "
            f"| {r['file_mb']:.2f} | {r['latency_p50_ms']:.1f} | {r['latency_p90_ms']:.1f} "
            f"| {r['throughput_ips']:.1f} | {_num(r['peak_delta_mb'], '.0f')} |"
        )
    return "\n".join(lines)
