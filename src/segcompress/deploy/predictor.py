"""The predictor interface every runtime implements: a callable ``batch -> logits`` that also
knows its class table, input size and normalisation (:class:`Predictor`), and the base of the
runtimes that run a compiled ONNX graph (:class:`GraphPredictor`).

It sits below :mod:`segcompress.deploy.runtime` (which loads predictors) and the runtimes
themselves (ONNX Runtime there, OpenVINO in :mod:`segcompress.deploy.openvino_runtime`), so that
a runtime depends on the interface, not on the loader that picks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from segcompress_edge.prepost import preprocess, resize_argmax
from torch import Tensor

from segcompress.data.classes import ClassTable
from segcompress.deploy.metadata import ModelInfo
from segcompress.errors import DataError

__all__ = ["GraphPredictor", "Predictor"]


class Predictor:
    """A model ready for inference plus what it needs to be used (see the module docstring)."""

    backend: str = ""

    def __init__(self, info: ModelInfo, source: str, device: torch.device) -> None:
        self.info = info
        self.source = source
        self.device = device

    @property
    def classes(self) -> ClassTable:
        return self.info.classes

    @property
    def input_size(self) -> tuple[int, int]:
        return self.info.input_size

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.info.std

    def __call__(self, batch: Tensor) -> Tensor:
        raise NotImplementedError

    def _check_batch(self, batch: Tensor) -> None:
        if batch.dim() != 4 or batch.shape[1] != 3:
            raise DataError(
                f"{self.source}: expected an image batch [N, 3, H, W], got {list(batch.shape)}"
            )

    def predict_image(self, image: np.ndarray) -> np.ndarray:
        """Class ids (uint8) at ``image``'s own resolution for an RGB uint8 ``H x W x 3`` image:
        resized to ``input_size``, normalised, logits resized back bilinearly, then argmax."""
        from segcompress.engine.predict import predict_image

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DataError(f"{self.source}: predict_image needs an RGB uint8 HxWx3 array")
        return predict_image(self, image, self.input_size, self.mean, self.std, self.device)

    def describe(self) -> dict[str, Any]:
        """Plain facts for reports: backend, source, classes, size, normalisation."""
        return {
            "backend": self.backend,
            "source": self.source,
            "num_classes": self.classes.num_classes,
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
        }


class GraphPredictor(Predictor):
    """A compiled ONNX graph (any runtime). Fixed input dimensions of the graph are enforced: a
    fixed batch size is served by splitting (and zero-padding the last chunk); a fixed
    height/width refuses other sizes with the fix named. Subclasses run one numpy batch."""

    runtime: str = ""  # the runtime's name, as ``load_predictor(runtime=...)`` takes it
    backend_prefix: str = ""  # backend names are ``{prefix}-fp32`` / ``{prefix}-int8``

    def __init__(
        self,
        info: ModelInfo,
        source: str,
        device: torch.device,
        dims: Sequence[Any],
        *,
        int8: bool,
    ) -> None:
        super().__init__(info, source, device)
        self.int8 = int8
        self.backend = f"{self.backend_prefix}-{'int8' if int8 else 'fp32'}"
        dims = list(dims)
        if len(dims) != 4:
            raise DataError(f"{source}: the model's input has rank {len(dims)}, expected 4")
        self.fixed_batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
        hw = dims[2:]
        self.fixed_size = tuple(hw) if all(isinstance(d, int) and d > 0 for d in hw) else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_image(self, image: np.ndarray) -> np.ndarray:
        """As :meth:`Predictor.predict_image`, with segcompress-edge's numpy pre- and
        postprocessing: the code the vehicle runs, so both give the same mask for a file."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DataError(f"{self.source}: predict_image needs an RGB uint8 HxWx3 array")
        batch = torch.from_numpy(preprocess(image, self.input_size, self.mean, self.std))
        return resize_argmax(self(batch)[0].numpy(), image.shape[:2])

    def __call__(self, batch: Tensor) -> Tensor:
        self._check_batch(batch)
        size = tuple(batch.shape[-2:])
        if self.fixed_size is not None and size != self.fixed_size:
            h, w = self.fixed_size
            raise DataError(
                f"{self.source}: the model takes {h}x{w} inputs, got {size[0]}x{size[1]}; resize "
                f"inputs to {h}x{w} (--img-size {h}x{w}) or re-export with --dynamic"
            )
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        if self.fixed_batch is None or len(x) == self.fixed_batch:
            return torch.from_numpy(self._run(x))
        b = self.fixed_batch
        outs = []
        for start in range(0, len(x), b):
            chunk = x[start : start + b]
            n = len(chunk)
            if n < b:
                chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), chunk.dtype)])
            outs.append(self._run(chunk)[:n])
        return torch.from_numpy(np.concatenate(outs))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "runtime": self.runtime}
