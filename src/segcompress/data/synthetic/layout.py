"""Scene layout: what kind of street a frame shows, and the order its parts are drawn in.

Why the order matters twice: the parts are painted far to near (painter's algorithm), and every
draw comes from one generator per image, so the sequence below fixes both the occlusions and the
exact pixels of each seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segcompress.data.synthetic.barriers import barriers, bridge
from segcompress.data.synthetic.buildings import structures
from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.finish import finish
from segcompress.data.synthetic.furniture import street_furniture
from segcompress.data.synthetic.materials import earth
from segcompress.data.synthetic.palette import C
from segcompress.data.synthetic.people import people
from segcompress.data.synthetic.road import road, roadside
from segcompress.data.synthetic.sky import sky, skyline
from segcompress.data.synthetic.vehicles import bonnet, traffic
from segcompress.errors import UsageError

__all__ = ["MIN_SIDE", "check_size", "compose", "render_scene"]

MIN_SIDE = 32

# Scene kinds: how often each appears and what it contains. Rates (traffic, people, trees) are
# expected counts per image; the rest are probabilities (per image, side or segment).
_KIND_FIELDS = (
    "p", "traffic", "people", "sidewalk", "shoulder", "building", "wall", "fence", "trees",
    "billboard", "guard", "unpaved", "grass",
)  # fmt: skip
_KIND_ROWS = {
    "urban":    (0.35, 7.0, 4.0, 0.85, 0.35, 0.50, 0.12, 0.06, 3.0, 0.70, 0.06, 0.03, 0.2),
    "suburban": (0.30, 5.0, 2.5, 0.60, 0.55, 0.32, 0.20, 0.10, 5.0, 0.50, 0.12, 0.06, 0.5),
    "rural":    (0.20, 2.5, 1.5, 0.15, 0.85, 0.10, 0.10, 0.13, 7.0, 0.25, 0.20, 0.30, 0.9),
    "highway":  (0.15, 4.0, 0.5, 0.20, 0.70, 0.08, 0.18, 0.20, 5.0, 0.55, 0.60, 0.00, 0.8),
}  # fmt: skip
_KINDS: dict[str, dict[str, float]] = {
    name: dict(zip(_KIND_FIELDS, row, strict=True)) for name, row in _KIND_ROWS.items()
}
_KIND_NAMES = tuple(_KINDS)
_KIND_P = np.array([_KINDS[k]["p"] for k in _KIND_NAMES])


def check_size(size: Any) -> tuple[int, int]:
    """``size`` as (height, width) ints, or a UsageError saying what is wrong with it."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"size must be (height, width), got {size!r}") from exc
    if h < MIN_SIDE or w < MIN_SIDE:
        raise UsageError(f"size must be at least {MIN_SIDE}x{MIN_SIDE} (HxW), got {h}x{w}")
    return h, w


def render_scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic frame: (RGB uint8 HxWx3, labels uint8 HxW of level-3 ids, 255 = void)."""
    h, w = check_size(size)
    kind = _KINDS[_KIND_NAMES[int(rng.choice(len(_KIND_NAMES), p=_KIND_P))]]
    scene = Scene(rng, h, w, kind)
    compose(scene)
    return finish(scene)


def compose(scene: Scene) -> None:
    """Lay out the road, then draw backdrop, ground, queued upright objects and bonnet in turn."""
    r = scene.rng
    k = scene.kind
    lanes = int(r.choice((1, 2, 3, 4), p=(0.2, 0.4, 0.25, 0.15)))
    scene.lane_w = r.uniform(2.8, 3.6)
    scene.road_w = lanes * scene.lane_w
    scene.lanes = lanes
    scene.cam.offset = r.uniform(-0.3, 0.3) * scene.road_w
    sky(scene)
    skyline(scene)
    base_ground = earth(scene, C["non-drivable fallback"])
    scene.draw.rectangle((0, math.floor(scene.cam.yh), scene.w, scene.h), fill=base_ground)
    edges = {side: roadside(scene, side) for side in (-1.0, 1.0)}
    road(scene, unpaved=r.random() < k["unpaved"])
    for side in (-1.0, 1.0):
        structures(scene, side, edges[side])
        street_furniture(scene, side, edges[side])
    barriers(scene)
    if r.random() < 0.15:
        bridge(scene)
    traffic(scene)
    people(scene, edges)
    scene.draw_queued()
    if r.random() < 0.3:
        bonnet(scene)
