"""Edge inference near the hardware: each student against this machine's measured limits.

For each of ``--students`` (``student_s``, ``student_xs`` and the INT8-shaped ``student_q`` by
default; ``NAME:key=value`` passes model arguments; random initialisation: speed depends on
the architecture, not the weights) at each size, three ONNX files are written: FP32 (fixed
height/width, dynamic batch), INT8 from ONNX Runtime's ``quantize_static`` (QDQ, per-channel)
and INT8 from NNCF. Each file runs in ONNX Runtime and in OpenVINO, each in its own process,
at batch 1 and 8 (the deployment harness, ``segcompress.deploy.benchmark``). Then:

* **the peak**: one large convolution (256 -> 256 channels, 3x3, 64x64, 4.8 GFLOP) through each
  runtime in FP32 and INT8 (the same two quantizers), and a memory copy for the bandwidth;
* **achieved GOP/s** of every student row (FLOPs = 2 x MAC of convolutions, as
  ``segcompress.models.profile`` counts them), as % of the best peak of its precision;
* **memory traffic** per inference (weights once, activations written once and read by each
  consumer; ``op_profile.estimate_traffic``) and the time it needs at the
  measured bandwidth: the memory bound;
* **where the time goes**: per-operator kernel time of each student's INT8 files at the
  largest size, batch 1 (ORT profiling, OpenVINO performance counters), by category;
* **the ceiling**: from the same profiles, the same-file speed-up over ORT FP32 each INT8 file
  would reach if every step but its convolutions took no time, and the share of the INT8 peak
  its convolutions alone reach. Where these fall short of a target, no work outside the
  convolutions can meet it; only faster convolutions (wider, fewer, larger) can;
* **quantization settings**: ``student_s`` at the largest size quantized by ONNX Runtime with
  per-tensor or per-channel weights, unsigned or signed activations, and the stem in FP32 (the
  default) or INT8, in both runtimes.

Prints the tables with the edge targets (:data:`SPEED_TARGETS`) and writes
``benchmarks/results/edge.json``. Run it alone on the machine: every number here is a time.

    .venv/bin/python benchmarks/bench_edge.py [--threads 2] [--sizes 96x128 256x256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from harness import add_arguments, machine_snapshot, time_call, write_result
from int8_files import CALIB_N, export_spec
from op_profile import CATEGORIES, estimate_traffic, profile_onnxruntime, profile_openvino

from segcompress.cli.common import size_arg
from segcompress.deploy.benchmark import benchmark
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.samples import smooth_images

RESULTS = Path(__file__).resolve().parent / "results" / "edge.json"
STUDENTS = ("student_s", "student_xs", "student_q")
# (ratio to ORT FP32, ratio to the best FP32) each student's best INT8 backend must reach;
# student_s's targets apply to student_q, which is to replace it where it wins.
SPEED_TARGETS = {"student_s": (3.0, 1.5), "student_xs": (2.0, None), "student_q": (3.0, 1.5)}
QUANTIZERS = ("onnxruntime", "nncf")
RUNTIMES = {"onnxruntime": "onnx", "openvino": "openvino"}
PEAK_CONV = (256, 256, 64, 64)  # in channels, out channels, height, width
COPY_MB = 256


def _files(spec: str, size: tuple[int, int], work: Path) -> dict[str, Path]:
    """FP32 and the two INT8 files of ``spec`` (``NAME[:key=value,...]``) at ``size``, keyed
    fp32 / onnxruntime / nncf."""
    stem = f"{spec.replace(':', '-').replace('=', '-').replace(',', '-')}-{size[0]}x{size[1]}"
    files = {"fp32": export_spec(spec, size, work / f"{stem}.onnx")}
    images = smooth_images(CALIB_N, size, 0)
    for engine in QUANTIZERS:
        files[engine] = work / f"{stem}.{engine}-int8.onnx"
        quantize_onnx(files["fp32"], files[engine], images, engine=engine)
    return files


def _time(fn: Any, runs: int) -> float:
    """Median seconds of ``runs`` calls of ``fn()``."""
    return statistics.median(time_call(fn, runs)) / 1e3


def _peak_files(work: Path) -> dict[str, Path]:
    """The peak convolution as FP32 ONNX and its two INT8 versions."""
    import nncf
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    cin, cout, h, w = PEAK_CONV
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1).eval()
    x = torch.randn(1, cin, h, w)
    files = {"fp32": work / "peak.onnx"}
    torch.onnx.export(conv, (x,), str(files["fp32"]), input_names=["x"], dynamo=True)
    calib = [{"x": np.random.default_rng(i).standard_normal((1, cin, h, w), np.float32)}
             for i in range(4)]  # fmt: skip

    class Reader:
        def __init__(self) -> None:
            self.items = iter(calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    files["onnxruntime"] = work / "peak.onnxruntime-int8.onnx"
    quantize_static(
        str(files["fp32"]),
        str(files["onnxruntime"]),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    files["nncf"] = work / "peak.nncf-int8.onnx"
    quantized = nncf.quantize(onnx.load(str(files["fp32"])), nncf.Dataset(calib), subset_size=4)
    onnx.save(quantized, str(files["nncf"]))
    return files


def measure_peak(work: Path, threads: int, runs: int) -> list[dict[str, Any]]:
    """GOP/s of the peak convolution per runtime and file."""
    from segcompress.deploy.openvino_runtime import openvino_compile
    from segcompress.deploy.runtime import onnx_session

    cin, cout, h, w = PEAK_CONV
    flops = 2 * cin * cout * 9 * h * w
    x = np.random.default_rng(0).standard_normal((1, cin, h, w), np.float32)
    rows = []
    for kind, path in _peak_files(work).items():
        session = onnx_session(path, threads=threads)
        request = openvino_compile(path, threads=threads).create_infer_request()
        runners = {
            "onnxruntime": lambda s=session: s.run(None, {"x": x}),
            "openvino": lambda r=request: r.infer({0: x}),
        }
        for runtime, fn in runners.items():
            seconds = _time(fn, runs)
            precision = "fp32" if kind == "fp32" else "int8"
            rows.append(
                {
                    "runtime": runtime,
                    "file": kind,
                    "precision": precision,
                    "ms": seconds * 1e3,
                    "gops": flops / seconds / 1e9,
                }
            )
    return rows


def measure_bandwidth(threads: int, runs: int = 10) -> float:
    """GB/s of a large tensor copy (bytes read plus bytes written)."""
    torch.set_num_threads(threads)
    n = COPY_MB * 2**20 // 4
    src, dst = torch.ones(n), torch.empty(n)
    seconds = _time(lambda: dst.copy_(src), runs)
    return 2 * n * 4 / seconds / 1e9


def _label(row: dict[str, Any]) -> str:
    """'ORT FP32', 'OpenVINO INT8 (nncf file)' ..."""
    runtime = "OpenVINO" if row["backend"].startswith("openvino") else "ORT"
    if row["backend"].endswith("fp32"):
        return f"{runtime} FP32"
    engine = "nncf" if ".nncf-" in row["model"] else "ORT"
    return f"{runtime} INT8 ({engine} file)"


def student_rows(
    files: dict[str, Path], size: tuple[int, int], threads: int, runs: int
) -> list[dict[str, Any]]:
    """Both runtimes on every file at batch 1 and 8, one process per (file, runtime)."""
    rows = benchmark(
        list(files.values()),
        backends=tuple(f"{rt}-{p}" for rt in RUNTIMES.values() for p in ("fp32", "int8")),
        img_size=size,
        batches=(1, 8),
        threads=threads,
        runs=runs,
    )
    for row in rows:
        row["label"] = _label(row)
    return rows


# (name, per-channel weights, signed activations, FP32 stem) of the ORT settings compared.
SETTINGS = (
    ("per-channel, U8 activations, FP32 stem", True, False, True),
    ("per-tensor, U8 activations, FP32 stem", False, False, True),
    ("per-channel, S8 activations, FP32 stem", True, True, True),
    ("per-channel, U8 activations, INT8 stem", True, False, False),
)


def settings_rows(
    name: str, size: tuple[int, int], work: Path, threads: int, runs: int
) -> list[dict[str, Any]]:
    """Batch-1 latency of ``name`` quantized by ORT with each of :data:`SETTINGS`."""
    fp32 = work / f"{name}-{size[0]}x{size[1]}.onnx"
    images = smooth_images(CALIB_N, size, 0)
    rows = []
    for i, (label, per_channel, signed, fp32_stem) in enumerate(SETTINGS):
        path = work / f"settings-{i}.onnx"
        quantize_onnx(
            fp32,
            path,
            images,
            per_channel=per_channel,
            signed_activations=signed,
            fp32_stem=fp32_stem,
        )
        for row in benchmark(
            [path],
            backends=("onnx-int8", "openvino-int8"),
            img_size=size,
            batches=(1,),
            threads=threads,
            runs=runs,
        ):
            rows.append({**row, "setting": label, "arch": name, "size": f"{size[0]}x{size[1]}"})
    return rows


def _bound(row: dict[str, Any], fp32: onnx.ModelProto, peaks: dict[str, float], gbps: float):
    """Achieved GOP/s, % of peak, and the memory-bound time at batch 1 and 8."""
    int8 = row["backend"].endswith("int8")
    width = 1 if int8 else 4
    out = {"gops_b1": row["flops"] / (row["latency_p50_ms"] / 1e3) / 1e9}
    out["pct_peak_b1"] = 100 * out["gops_b1"] / peaks["int8" if int8 else "fp32"]
    b8 = next(t for t in row["timings"] if t["batch"] == 8)
    out["gops_b8"] = 8 * row["flops"] / (b8["mean_ms"] / 1e3) / 1e9
    out["pct_peak_b8"] = 100 * out["gops_b8"] / peaks["int8" if int8 else "fp32"]
    for batch in (1, 8):
        traffic = estimate_traffic(fp32, activation_bytes=width, weight_bytes=width, batch=batch)
        out[f"traffic_mb_b{batch}"] = traffic.total / 2**20
        out[f"memory_bound_ms_b{batch}"] = traffic.total / (gbps * 1e9) * 1e3
    return out


def profiles(files: dict[str, Path], size: tuple[int, int], threads: int, runs: int):
    x = np.random.default_rng(0).standard_normal((1, 3, *size), np.float32)
    out = []
    for kind in ("fp32", *QUANTIZERS):
        for fn in (profile_onnxruntime, profile_openvino):
            result = fn(files[kind], x, runs=runs, threads=threads).to_dict()
            result["file"] = kind
            out.append(result)
    return out


def ceilings(
    profs: list[dict[str, Any]], rows: list[dict[str, Any]], peaks: dict[str, float]
) -> list[dict[str, Any]]:
    """For each INT8 profile: its profiled speed-up over the same student's ORT FP32 profile,
    how much faster its convolutions run than that file's, and the ceiling if everything but
    the convolutions were free (ORT FP32 kernel time / INT8 convolution time); the GOP/s of the
    convolutions alone as % of the INT8 peak. Kernel-time sums on both sides, so the profiler's
    overhead is in both."""
    out = []
    for p in profs:
        if p["file"] == "fp32":
            continue
        key = (p["arch"], p["size"])
        ort_fp32 = next(
            q
            for q in profs
            if (q["arch"], q["size"]) == key
            and q["file"] == "fp32"
            and q["runtime"] == "onnxruntime"
        )
        flops = next(r["flops"] for r in rows if (r["arch"], r["size"]) == key)
        conv_ms = p["by_category"]["conv"]
        fp32_ms, fp32_conv_ms = ort_fp32["total_ms"], ort_fp32["by_category"]["conv"]
        out.append(
            {
                "arch": p["arch"],
                "size": p["size"],
                "file": p["file"],
                "runtime": p["runtime"],
                "fp32_ms": fp32_ms,
                "int8_ms": p["total_ms"],
                "int8_conv_ms": conv_ms,
                "conv_share": conv_ms / p["total_ms"],
                "profiled_speedup": fp32_ms / p["total_ms"],
                "conv_speedup": fp32_conv_ms / conv_ms,
                "ceiling_speedup": fp32_ms / conv_ms,
                "conv_pct_int8_peak": 100 * flops / (conv_ms / 1e3) / 1e9 / peaks["int8"],
            }
        )
    return out


def _print_tables(result: dict[str, Any]) -> None:
    print("\npeak (one 4.8 GFLOP convolution, batch 1):")
    print("| runtime | file | ms | GOP/s |\n|---|---|---:|---:|")
    for r in result["peak"]:
        print(f"| {r['runtime']} | {r['file']} | {r['ms']:.2f} | {r['gops']:.1f} |")
    print(f"memory copy: {result['bandwidth_gbps']:.1f} GB/s (read + write)")
    print(
        "\n| model | size | backend | p50 ms b1 | img/s b8 | GOP/s b1 | % peak b1 | % peak b8 "
        "| traffic MB b1 | mem-bound ms b1 |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in result["rows"]:
        print(
            f"| {r['arch']} | {r['size']} | {r['label']} | {r['latency_p50_ms']:.2f} "
            f"| {r['throughput_ips']:.1f} | {r['gops_b1']:.1f} | {r['pct_peak_b1']:.1f} "
            f"| {r['pct_peak_b8']:.1f} | {r['traffic_mb_b1']:.1f} | {r['memory_bound_ms_b1']:.2f} |"
        )
    print("\nwhere the time goes (ms per call, batch 1, by category):")
    print("| model | file | runtime | total | " + " | ".join(CATEGORIES) + " |")
    print("|---|---|---|---:|" + "---:|" * len(CATEGORIES))
    for p in result["profiles"]:
        cats = " | ".join(f"{p['by_category'][c]:.2f}" for c in CATEGORIES)
        print(f"| {p['arch']} | {p['file']} | {p['runtime']} | {p['total_ms']:.2f} | {cats} |")
    print("\nthe ceiling (profiles above; speed-ups over the ORT FP32 file's kernel time):")
    print(
        "| model | file | runtime | INT8 ms | conv ms | conv share | speed-up | convs' speed-up "
        "| ceiling, all else free | convs' % of INT8 peak |\n|---|---|---|---:|---:|---:|---:|"
        "---:|---:|---:|"
    )
    for c in result["ceilings"]:
        print(
            f"| {c['arch']} | {c['file']} | {c['runtime']} | {c['int8_ms']:.2f} "
            f"| {c['int8_conv_ms']:.2f} | {100 * c['conv_share']:.0f}% "
            f"| {c['profiled_speedup']:.2f}x | {c['conv_speedup']:.2f}x "
            f"| {c['ceiling_speedup']:.2f}x | {c['conv_pct_int8_peak']:.1f}% |"
        )
    if result["settings"]:
        print("\nORT quantization settings (student_s, batch 1, p50 ms):")
        print("| setting | ORT | OpenVINO |\n|---|---:|---:|")
        for label, *_ in SETTINGS:
            rows = [r for r in result["settings"] if r["setting"] == label]
            ms = {r["backend"]: r["latency_p50_ms"] for r in rows}
            print(f"| {label} | {ms['onnx-int8']:.2f} | {ms['openvino-int8']:.2f} |")
    print(f"\ntargets ({result['target_size']}, batch 1):")
    for t in result["targets"]:
        print(f"- {t['name']}: {t['measured']:.2f} (target {t['target']}) -> {t['met']}")


def _targets(rows: list[dict[str, Any]], size: str) -> list[dict[str, Any]]:
    def ms(arch: str, pick: Any) -> tuple[float, str]:
        cands = [r for r in rows if r["arch"] == arch and r["size"] == size and pick(r)]
        best = min(cands, key=lambda r: r["latency_p50_ms"])
        return best["latency_p50_ms"], best["label"]

    out = []
    archs = dict.fromkeys(r["arch"] for r in rows if r["size"] == size)
    for arch in archs:
        need_ort, need_best = SPEED_TARGETS.get(arch.partition(":")[0], (3.0, 1.5))
        int8, label = ms(arch, lambda r: "INT8" in r["label"])
        ort_fp32, _ = ms(arch, lambda r: r["label"] == "ORT FP32")
        best_fp32, fp32_label = ms(arch, lambda r: r["label"].endswith("FP32"))
        out.append(
            {
                "name": f"{arch}: best INT8 ({label}) vs ORT FP32",
                "measured": ort_fp32 / int8,
                "target": need_ort,
                "met": ort_fp32 / int8 >= need_ort,
            }
        )
        if need_best:
            out.append(
                {
                    "name": f"{arch}: best INT8 vs best FP32 ({fp32_label})",
                    "measured": best_fp32 / int8,
                    "target": need_best,
                    "met": best_fp32 / int8 >= need_best,
                }
            )
    for arch in archs:
        if SPEED_TARGETS.get(arch.partition(":")[0], (0, 0))[1] is None:
            continue  # the peak target is student_s's (and its replacement's)
        int8_rows = [r for r in rows if r["arch"] == arch and r["size"] == size]
        best = min(
            (r for r in int8_rows if "INT8" in r["label"]), key=lambda r: r["latency_p50_ms"]
        )
        out.append(
            {
                "name": f"{arch}: best INT8 % of INT8 peak",
                "measured": best["pct_peak_b1"],
                "target": 30,
                "met": best["pct_peak_b1"] >= 30,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, RESULTS, threads=2, runs=50)
    parser.add_argument("--sizes", type=size_arg, nargs="+", default=[(96, 128), (256, 256)])
    parser.add_argument("--students", nargs="+", default=list(STUDENTS), help="NAME[:k=v,...]")
    parser.add_argument("--profile-runs", type=int, default=20)
    args = parser.parse_args()
    started = machine_snapshot(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        peak = measure_peak(work, args.threads, args.runs)
        gbps = measure_bandwidth(args.threads)
        peaks = {p: max(r["gops"] for r in peak if r["precision"] == p) for p in ("fp32", "int8")}
        rows, profs = [], []
        for arch in args.students:
            for size in args.sizes:
                files = _files(arch, tuple(size), work)
                fp32 = onnx.load(str(files["fp32"]))
                for row in student_rows(files, tuple(size), args.threads, args.runs):
                    row.update(arch=arch, size=f"{size[0]}x{size[1]}")
                    row.update(_bound(row, fp32, peaks, gbps))
                    rows.append(row)
                if tuple(size) == tuple(args.sizes[-1]):
                    for p in profiles(files, tuple(size), args.threads, args.profile_runs):
                        profs.append({**p, "arch": arch, "size": f"{size[0]}x{size[1]}"})
        settings = (
            settings_rows("student_s", tuple(args.sizes[-1]), work, args.threads, args.runs)
            if "student_s" in args.students
            else []
        )
    last = f"{args.sizes[-1][0]}x{args.sizes[-1][1]}"
    result = {
        "threads": args.threads,
        "runs": args.runs,
        "peak": peak,
        "peak_gops": peaks,
        "bandwidth_gbps": gbps,
        "rows": rows,
        "profiles": profs,
        "ceilings": ceilings(profs, rows, peaks),
        "settings": settings,
        "target_size": last,
        "targets": _targets(rows, last),
    }
    _print_tables(result)
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
