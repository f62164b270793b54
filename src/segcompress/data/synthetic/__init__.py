"""Offline synthetic driving scenes written in the Kaggle IDD layout.

Why: the real IDD needs a manual download. A procedural stand-in with the same 26 level-3 classes,
the same file layout and a similar class imbalance lets every stage (data loading, training,
distillation, export, benchmarks, CI) run offline and reproducibly.

How: a scene is drawn with PIL polygons in painter's order (far to near) onto one integer canvas
whose values are *looks* (a material: class id, two-tone colour, texture amplitudes). The label map
and the RGB image are both produced from that canvas with lookup tables, so they always agree.
Textures, shadows, illumination, sensor noise, blur and the JPEG write make the images harder than
their flat polygons: colours are drawn per object from overlapping ranges (road, sidewalk and
drivable fallback share grey-brown tones; vehicles share one paint palette), so classes must be
told apart by shape, context and position.

The parts: ``camera`` (projection), ``canvas`` (the shared :class:`~.canvas.Scene` state and its
drawing primitives), ``palette`` and ``materials`` (class ids, colour pools, looks), ``layout``
(scene kind, draw order, :func:`render_scene`), then one module per part of the street: ``sky``,
``road``, ``buildings``, ``vegetation``, ``furniture``, ``barriers``, ``vehicles``, ``people``,
and ``finish`` (labels and the noisy RGB image). ``writer`` puts the files and ``synth.json`` on
disk. Every part draws from the one per-image generator in a fixed order: moving a draw changes
the pixels of every seed (bump ``GENERATOR_VERSION`` when that is intended).
"""

from __future__ import annotations

from segcompress.data.synthetic.layout import MIN_SIDE, render_scene
from segcompress.data.synthetic.writer import (
    GENERATOR_VERSION,
    SPLITS,
    UNLABELED,
    image_rng,
    is_synthesized,
    read_manifest,
    synthesize,
)

__all__ = [
    "GENERATOR_VERSION",
    "MIN_SIDE",
    "SPLITS",
    "UNLABELED",
    "image_rng",
    "is_synthesized",
    "read_manifest",
    "render_scene",
    "synthesize",
]
