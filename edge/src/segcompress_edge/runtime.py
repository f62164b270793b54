"""An exported student ready to turn RGB frames into class-id masks, in ONNX Runtime or OpenVINO.

``load_model(path)`` reads the file's metadata (``meta.read_model_info``) and compiles it; the
returned :class:`EdgeModel` runs one preprocessed batch (:meth:`EdgeModel.logits`) or a whole
frame (:meth:`EdgeModel.predict`). Both runtimes run the whole graph, FP32 or INT8 alike.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from segcompress_edge.errors import EdgeError, UsageError
from segcompress_edge.meta import ClassTable, read_model_info
from segcompress_edge.prepost import preprocess, resize_argmax

__all__ = ["RUNTIMES", "EdgeModel", "load_model"]

RUNTIMES = ("onnxruntime", "openvino")
_INSTALL = {
    "onnxruntime": "pip install onnxruntime",
    "openvino": "pip install 'segcompress-edge[openvino]'",
}


def _require(runtime: str) -> Any:
    if runtime not in RUNTIMES:
        raise UsageError(f"--runtime {runtime}: choose one of {', '.join(RUNTIMES)}")
    if importlib.util.find_spec(runtime) is None:
        raise UsageError(
            f"--runtime {runtime}: the {runtime} package is not installed; {_INSTALL[runtime]}"
        )
    return importlib.import_module(runtime)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _fixed(dims: list[Any]) -> tuple[int, int] | None:
    hw = dims[2:] if len(dims) == 4 else []
    if len(hw) == 2 and all(isinstance(d, int) and d > 0 for d in hw):
        return int(hw[0]), int(hw[1])
    return None


class EdgeModel:
    """A compiled model and its :class:`ModelInfo`; ``runtime`` names what runs it.
    :meth:`logits` may be called from ``workers`` threads at once."""

    def __init__(
        self,
        path: Path,
        runtime: str,
        threads: int | None,
        classes: ClassTable | None,
        img_size: tuple[int, int] | None,
        workers: int = 1,
    ) -> None:
        self.path = path
        self.runtime = runtime
        self.workers = workers
        module = _require(runtime)
        try:
            if runtime == "onnxruntime":
                self._init_ort(module, threads)
            else:
                self._init_openvino(module, threads, workers)
        except (RuntimeError, ValueError) as exc:
            raise EdgeError(
                f"{path}: {runtime} cannot load this model ({_first_line(exc)}); export it "
                "again with `segcompress export`"
            ) from exc
        except Exception as exc:  # onnxruntime's pybind errors derive from Exception only
            if type(exc).__module__.startswith("onnxruntime"):
                raise EdgeError(
                    f"{path}: onnxruntime cannot load this model ({_first_line(exc)}); export "
                    "it again with `segcompress export`"
                ) from exc
            raise
        fixed = _fixed(self.dims)
        self.info = read_model_info(path, classes=classes, img_size=img_size, graph_size=fixed)
        if fixed is not None and self.info.input_size != fixed:
            h, w = self.info.input_size
            raise UsageError(
                f"{path}: the graph takes {fixed[0]}x{fixed[1]} inputs, not {h}x{w}; drop "
                "--img-size or re-export with --dynamic"
            )

    def _init_ort(self, ort: Any, threads: int | None) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        # No busy-waiting between calls: in the video pipeline the other stages need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        # One session serves every worker: its run() is thread-safe, and with one intra-op
        # thread each call computes on the calling thread (a session per worker measured slower).
        session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        self.dims = list(inp.shape)
        names = [inp.name], session.get_outputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run([names[1]], {names[0][0]: x})[0]

        self._run = run

    def _init_openvino(self, ov: Any, threads: int | None, workers: int) -> None:
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": workers,  # one stream per worker, each with ``threads`` threads
            # FP32 files stay FP32: on BF16-capable CPUs OpenVINO would otherwise use bfloat16.
            "INFERENCE_PRECISION_HINT": "f32",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads) * workers
        compiled = ov.Core().compile_model(str(self.path), "CPU", config)
        shape = compiled.input(0).get_partial_shape()
        self.dims = [d.get_length() if d.is_static else None for d in shape]
        local = threading.local()  # an infer request serves one call at a time: one per thread

        def run(x: np.ndarray) -> np.ndarray:
            request = getattr(local, "request", None)
            if request is None:
                request = local.request = compiled.create_infer_request()
            return np.array(request.infer({0: x})[0], dtype=np.float32)

        self._run = run

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """``[1, C, h, w]`` float32 logits of a ``[1, 3, H, W]`` batch (see ``preprocess``)."""
        try:
            return self._run(batch)
        except Exception as exc:
            raise EdgeError(
                f"{self.path}: {self.runtime} failed on a {list(batch.shape)} batch "
                f"({_first_line(exc)})"
            ) from exc

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        info = self.info
        return preprocess(image, info.input_size, info.mean, info.std)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """uint8 class ids at ``image``'s own size for an RGB uint8 ``H x W x 3`` image."""
        return resize_argmax(self.logits(self.preprocess(image))[0], image.shape[:2])


def load_model(
    path: str | Path,
    *,
    runtime: str = "onnxruntime",
    threads: int | None = None,
    classes: ClassTable | None = None,
    img_size: tuple[int, int] | None = None,
    workers: int = 1,
) -> EdgeModel:
    """``path`` compiled by ``runtime`` with ``threads`` inference threads for each of
    ``workers`` threads that may call it at once; ``classes`` and ``img_size`` supply (or
    override) what a file without segcompress metadata lacks."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: model file not found")
    return EdgeModel(path, runtime, threads, classes, img_size, workers)
