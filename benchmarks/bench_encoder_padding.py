"""How far symmetric padding moves the ImageNet features of an EfficientNet-Lite encoder.

The weights were trained with TensorFlow's "same" padding (more at the bottom and right of each
strided convolution). PyTorch's symmetric padding shifts what every strided layer sees by one
pixel. This measures the relative change of each of the five feature maps,
``||f_symmetric - f_same|| / ||f_same||``, on real driving frames (IDD-Lite training images,
never val) with the same ImageNet weights, before any fine-tuning. Speed of the two paddings
is measured by ``bench_int8_ab.py --models student_lite student_lite:encoder_padding=symmetric``
(a command line, not an import).

    .venv/bin/python benchmarks/bench_encoder_padding.py [--data ../shared/datasets/idd20k_lite]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from harness import add_arguments, machine_snapshot, write_result
from PIL import Image

from segcompress.data.transforms import MEAN, STD
from segcompress.models.encoders import ENCODERS, create_encoder
from segcompress.models.pretrained import load_imagenet_weights

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "encoder_padding.json"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
SIZE = (224, 320)  # IDD-Lite's 227x320 frames, cropped to even sides


def frames(root: Path, count: int) -> torch.Tensor:
    """The first ``count`` training frames (sorted paths), ImageNet-normalised."""
    paths = sorted((root / "leftImg8bit" / "train").rglob("*_image.jpg"))[:count]
    if not paths:
        raise SystemExit(f"{root}: no IDD-Lite training frames (leftImg8bit/train/*/*_image.jpg)")
    batch = []
    for path in paths:
        image = Image.open(path).convert("RGB").resize(SIZE[::-1], Image.BILINEAR)
        batch.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1))
    x = torch.stack(batch)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


@torch.no_grad()
def relative_change(name: str, x: torch.Tensor) -> list[float]:
    same = create_encoder(name, "same")
    load_imagenet_weights(same)
    symmetric = create_encoder(name, "symmetric")
    symmetric.body.load_state_dict(same.body.state_dict())
    a, b = same.eval()(x), symmetric.eval()(x)
    return [float((fb - fa).norm() / fa.norm()) for fa, fb in zip(a, b, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=16)
    add_arguments(parser, RESULTS, threads=None)
    args = parser.parse_args()
    started = machine_snapshot(torch.get_num_threads())
    x = frames(args.data, args.frames)
    rows = {name: relative_change(name, x) for name in ENCODERS}
    print(f"relative change of each feature map, symmetric vs same padding, {len(x)} frames")
    print("| encoder | " + " | ".join(f"stride {2**i}" for i in range(1, 6)) + " |")
    print("|---|" + "---:|" * 5)
    for name, changes in rows.items():
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f}%" for c in changes) + " |")
    result = {"frames": len(x), "size": list(SIZE), "relative_change": rows}
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
