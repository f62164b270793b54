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
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from segcompress.data.classes import IDD_LEVEL3
from segcompress.errors import DataError, UsageError

__all__ = [
    "GENERATOR_VERSION",
    "MIN_SIDE",
    "SPLITS",
    "image_rng",
    "is_synthesized",
    "read_manifest",
    "render_scene",
    "synthesize",
]

GENERATOR_VERSION = 1
"""Bump whenever the pixels change for the same arguments, so cached datasets are rebuilt."""

MIN_SIDE = 32
SPLITS = ("train", "val")
MANIFEST_NAME = "synth.json"
JPEG_QUALITY = (
    55,
    95,
)  # inclusive range drawn per image: compression artefacts vary like real data

_C = {name: i for i, name in enumerate(IDD_LEVEL3.names)}
VOID = IDD_LEVEL3.ignore_index

# Texture layers a look can mix (amplitudes per look): pixel noise, blotches, large patches,
# horizontal and vertical stripes (text, bricks, fence bars) and a vertical ramp (sky, facades).
_FINE, _BLOTCH, _COARSE, _STRIPE_H, _STRIPE_V, _RAMP = range(6)
_N_TEX = 6

Color = tuple[float, float, float]
Point = tuple[float, float]

# Colour pools. Vehicles of every class share one paint pool; ground materials overlap on purpose.
_PAINT: tuple[Color, ...] = (
    (235, 235, 232),
    (192, 194, 198),
    (130, 132, 136),
    (40, 40, 44),
    (150, 30, 32),
    (40, 60, 130),
    (100, 30, 40),
    (200, 190, 160),
    (40, 100, 60),
    (225, 190, 40),
    (220, 110, 30),
    (90, 150, 190),
)
_WALL_PAINT: tuple[Color, ...] = (
    (220, 210, 180),
    (200, 170, 140),
    (180, 180, 175),
    (150, 150, 150),
    (160, 90, 70),
    (230, 220, 200),
    (190, 200, 170),
    (170, 190, 200),
    (210, 180, 120),
    (120, 110, 100),
    (220, 200, 210),
)
_CLOTHES: tuple[Color, ...] = (
    (230, 230, 225),
    (30, 30, 35),
    (40, 50, 110),
    (150, 30, 40),
    (200, 150, 40),
    (60, 110, 60),
    (120, 90, 70),
    (180, 100, 150),
    (90, 90, 95),
    (220, 120, 60),
    (70, 130, 170),
)
_SKIN: tuple[Color, ...] = ((150, 105, 80), (120, 80, 60), (180, 135, 105), (95, 65, 50))
_VIVID: tuple[Color, ...] = (
    (230, 40, 40),
    (250, 200, 30),
    (30, 90, 200),
    (40, 160, 70),
    (245, 245, 240),
    (240, 120, 20),
    (130, 40, 160),
    (20, 20, 20),
)

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

_VEHICLES = ("car", "motorcycle", "autorickshaw", "truck", "bus", "bicycle", "vehicle fallback")
_VEHICLE_P = np.array([0.33, 0.24, 0.14, 0.07, 0.05, 0.08, 0.09])

_NO_TEX = (0.0,) * _N_TEX


def _tex(
    fine: float = 0.0,
    blotch: float = 0.0,
    coarse: float = 0.0,
    stripe_h: float = 0.0,
    stripe_v: float = 0.0,
    ramp: float = 0.0,
) -> tuple[float, ...]:
    return (fine, blotch, coarse, stripe_h, stripe_v, ramp)


class _Scene:
    """One frame: camera, canvases, looks and the far-to-near list of upright objects."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.rng = rng
        self.h = height
        self.w = width
        self.canvas = Image.new("I", (width, height), 0)
        self.draw = ImageDraw.Draw(self.canvas)
        self.shade = Image.new("L", (width, height), 255)
        self.shade_draw = ImageDraw.Draw(self.shade)
        self.labels: list[int] = [VOID]
        self.base: list[Color] = [(0.0, 0.0, 0.0)]
        self.delta: list[Color] = [(0.0, 0.0, 0.0)]
        self.tex: list[tuple[float, ...]] = [_NO_TEX]
        self.shadowed: list[bool] = [False]
        self.items: list[tuple[float, int, Callable[[], None]]] = []

        r = rng
        self.kind = _KINDS[_KIND_NAMES[int(r.choice(len(_KIND_NAMES), p=_KIND_P))]]
        self.f = width * r.uniform(0.55, 0.85)
        self.yh = height * r.uniform(0.36, 0.5)
        self.xv = width * r.uniform(0.42, 0.58)
        self.hc = r.uniform(1.2, 1.8)
        self.curve = 0.0 if r.random() < 0.5 else r.uniform(-1.2e-3, 1.2e-3)
        self.z_bottom = self.f * self.hc / (height - self.yh)
        self.z_near = 0.5 * self.z_bottom
        self.z_far = r.uniform(90.0, 180.0)
        self.fog = r.uniform(120.0, 700.0)
        self.shadow_level = int(r.uniform(90, 190))
        self.sun_side = 1.0 if r.random() < 0.5 else -1.0
        self.cam_x = 0.0
        self.haze: Color = (200.0, 200.0, 200.0)
        self.has_shadow = False

    # ---------------------------------------------------------------- looks and primitives
    def look(
        self,
        label: int,
        base: Sequence[float],
        *,
        delta: Sequence[float] = (0.0, 0.0, 0.0),
        tex: tuple[float, ...] = _NO_TEX,
        z: float | None = None,
        shadowed: bool = False,
    ) -> int:
        """Register a material; ``z`` fades it toward the haze colour with distance."""
        b = (float(base[0]), float(base[1]), float(base[2]))
        d = (float(delta[0]), float(delta[1]), float(delta[2]))
        if z is not None:
            a = 1.0 - math.exp(-z / self.fog)
            hz = self.haze
            b = (b[0] + (hz[0] - b[0]) * a, b[1] + (hz[1] - b[1]) * a, b[2] + (hz[2] - b[2]) * a)
            d = (d[0] * (1 - a), d[1] * (1 - a), d[2] * (1 - a))
        self.labels.append(label)
        self.base.append(b)
        self.delta.append(d)
        self.tex.append(tex)
        self.shadowed.append(shadowed)
        return len(self.labels) - 1

    def jitter(self, color: Sequence[float], spread: float) -> Color:
        n = self.rng.normal(0.0, spread, 3)
        return (
            min(255.0, max(0.0, color[0] + n[0])),
            min(255.0, max(0.0, color[1] + n[1])),
            min(255.0, max(0.0, color[2] + n[2])),
        )

    def pick(self, pool: Sequence[Color], spread: float = 12.0) -> Color:
        return self.jitter(pool[int(self.rng.integers(len(pool)))], spread)

    def px(self, x: float, y: float, z: float) -> Point:
        """World (lateral x in road coordinates, height y, depth z in metres) to pixels."""
        return (
            self.xv + self.f * (x - self.cam_x + self.curve * z * z) / z,
            self.yh + self.f * (self.hc - y) / z,
        )

    def zs(self, z0: float, z1: float) -> list[float]:
        """Depth samples along an edge: two suffice on a straight road, more bend with a curve."""
        if self.curve == 0.0:
            return [z0, z1]
        n = min(12, 2 + int(math.log(z1 / z0) / 0.25))
        return [z0 * (z1 / z0) ** (i / (n - 1)) for i in range(n)]

    def poly(self, pts: Sequence[Point], look: int) -> None:
        self.draw.polygon(list(pts), fill=look)

    def ground(self, xa: float, xb: float, z0: float, z1: float, look: int, y: float = 0.0) -> None:
        """A strip of ground (or any horizontal surface) between two lateral offsets."""
        zs = self.zs(max(z0, self.z_near), z1)
        if zs[0] >= zs[-1]:
            return
        self.poly([self.px(xa, y, z) for z in zs] + [self.px(xb, y, z) for z in reversed(zs)], look)

    def ground_shadow(self, xa: float, xb: float, z0: float, z1: float, level: int) -> None:
        zs = self.zs(max(z0, self.z_near), z1)
        if zs[0] >= zs[-1]:
            return
        pts = [self.px(xa, 0.0, z) for z in zs] + [self.px(xb, 0.0, z) for z in reversed(zs)]
        self.shade_draw.polygon(pts, fill=level)
        self.has_shadow = True

    def vface(self, x: float, z0: float, z1: float, y0: float, y1: float, look: int) -> None:
        """A vertical surface parallel to the road (facade, wall, fence, vehicle side)."""
        zs = self.zs(max(z0, self.z_near), z1)
        if zs[0] >= zs[-1]:
            return
        self.poly([self.px(x, y0, z) for z in zs] + [self.px(x, y1, z) for z in reversed(zs)], look)

    def zface(self, xa: float, xb: float, y0: float, y1: float, z: float, look: int) -> None:
        """A vertical surface facing the camera (vehicle rear, sign, bridge front): a rectangle."""
        (ax, ay), (bx, by) = self.px(xa, y1, z), self.px(xb, y0, z)
        self.draw.rectangle((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)), fill=look)

    def add(self, key: float, fn: Callable[[], None]) -> None:
        """Queue an upright object; drawn in decreasing ``key`` (depth) order."""
        self.items.append((key, len(self.items), fn))

    def sprite(
        self,
        parts: Sequence[tuple[Any, ...]],
        x: float,
        z: float,
        *,
        squeeze: float = 1.0,
        y: float = 0.0,
    ) -> None:
        """Draw a flat figure facing the camera at depth ``z``; parts are in metres (x right, y up).

        ``squeeze`` < 1 compresses it horizontally (an oblique view); negative mirrors it.
        Parts: ("p", points, look) polygon, ("e", (cx, cy, rx, ry), look) ellipse,
        ("l", points, look, width_m) line.
        """
        ox, oy = self.px(x, y, z)
        s = self.f / z
        sx = s * squeeze
        for part in parts:
            kind, geo, look = part[0], part[1], part[2]
            if kind == "p":
                self.draw.polygon([(ox + sx * a, oy - s * b) for a, b in geo], fill=look)
            elif kind == "e":
                cx, cy, rx, ry = geo
                rx = max(abs(sx) * rx, 0.5)
                ry = max(s * ry, 0.5)
                cx, cy = ox + sx * cx, oy - s * cy
                self.draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=look)
            else:
                width = max(1, round(part[3] * s))
                self.draw.line([(ox + sx * a, oy - s * b) for a, b in geo], fill=look, width=width)

    # ---------------------------------------------------------------- materials
    def grey_ground(self, label: int, z: float | None = None) -> int:
        """Asphalt-, gravel- or paver-like tones, shared by road, sidewalk and drivable fallback."""
        r = self.rng
        g = r.uniform(70, 165)
        warm = r.uniform(-6, 18)
        base = (g + warm, g + warm * 0.5, g - warm * 0.3)
        return self.look(
            label,
            self.jitter(base, 5),
            delta=self.jitter((8, 8, 6), 6),
            tex=_tex(r.uniform(0.02, 0.09), r.uniform(0.02, 0.12), r.uniform(0.02, 0.1)),
            z=z,
            shadowed=True,
        )

    def earth(self, label: int, z: float | None = None) -> int:
        """Dirt, mud and dry grass tones, shared by both fallback ground classes."""
        r = self.rng
        base = (r.uniform(105, 185), r.uniform(90, 150), r.uniform(60, 120))
        return self.look(
            label,
            base,
            delta=self.jitter((18, 14, 4), 10),
            tex=_tex(r.uniform(0.03, 0.12), r.uniform(0.05, 0.18), r.uniform(0.03, 0.15)),
            z=z,
            shadowed=True,
        )

    def foliage(self, z: float | None = None, shadowed: bool = False) -> int:
        r = self.rng
        base = (r.uniform(35, 120), r.uniform(60, 140), r.uniform(20, 75))
        amp = r.uniform(10.0, 40.0)  # two-tone leaves: toward yellow-green or toward dark green
        return self.look(
            _C["vegetation"],
            base,
            delta=(amp * r.uniform(0.5, 1.0), amp, amp * r.uniform(0.0, 0.4)),
            tex=_tex(r.uniform(0.08, 0.25), r.uniform(0.1, 0.3), r.uniform(0.0, 0.1)),
            z=z,
            shadowed=shadowed,
        )

    def paint(self, label: int, pool: Sequence[Color], z: float, texture: float = 0.04) -> int:
        r = self.rng
        return self.look(
            label,
            self.pick(pool),
            delta=self.jitter((6, 6, 6), 4),
            tex=_tex(r.uniform(0.01, texture), r.uniform(0.0, texture), ramp=r.uniform(-0.1, 0.1)),
            z=z,
        )

    def dark(self, label: int, z: float, level: tuple[float, float] = (15, 60)) -> int:
        """Tyres, glass, shadows inside objects: dark, low-texture tones."""
        g = self.rng.uniform(*level)
        return self.look(label, self.jitter((g, g, g + 5), 4), tex=_tex(0.03, 0.05), z=z)

    # ---------------------------------------------------------------- scene layout
    def compose(self) -> None:
        r = self.rng
        k = self.kind
        lanes = int(r.choice((1, 2, 3, 4), p=(0.2, 0.4, 0.25, 0.15)))
        self.lane_w = r.uniform(2.8, 3.6)
        self.road_w = lanes * self.lane_w
        self.lanes = lanes
        self.cam_x = r.uniform(-0.3, 0.3) * self.road_w
        self.sky()
        self.skyline()
        base_ground = self.earth(_C["non-drivable fallback"])
        self.draw.rectangle((0, math.floor(self.yh), self.w, self.h), fill=base_ground)
        edges = {side: self.roadside(side) for side in (-1.0, 1.0)}
        self.road(unpaved=r.random() < k["unpaved"])
        for side in (-1.0, 1.0):
            self.structures(side, edges[side])
            self.street_furniture(side, edges[side])
        self.barriers()
        if r.random() < 0.15:
            self.bridge()
        self.traffic()
        self.people(edges)
        for _, _, fn in sorted(self.items, key=lambda item: (-item[0], item[1])):
            fn()
        if r.random() < 0.3:
            self.bonnet()

    def sky(self) -> None:
        r = self.rng
        blue = (r.uniform(80, 150), r.uniform(130, 190), r.uniform(185, 245))
        hazy = (r.uniform(175, 235),) * 3
        a = r.random()
        base = tuple(b * (1 - a) + h * a for b, h in zip(blue, hazy, strict=True))
        self.haze = self.jitter(tuple(min(255.0, c + 25) for c in base), 8)
        look = self.look(
            _C["sky"],
            base,
            delta=(r.uniform(0, 40),) * 3,
            tex=_tex(0.01, 0.0, r.uniform(0.02, 0.2), ramp=r.uniform(0.05, 0.35)),
        )
        self.draw.rectangle((0, 0, self.w, self.h), fill=look)

    def skyline(self) -> None:
        """Distant buildings and tree lines at the horizon, faded by haze."""
        r = self.rng
        z = r.uniform(150.0, 400.0)
        y0 = self.yh + self.f * self.hc / z + 1
        s = self.f / z
        p_build = 0.15 + 0.6 * self.kind["building"]
        x = -r.uniform(0, 0.1) * self.w
        while x < self.w:
            seg = r.uniform(0.03, 0.18) * self.w
            u = r.random()
            if u < p_build:
                top = y0 - s * r.uniform(5, 40)
                look = self.look(
                    _C["building"], self.pick(_WALL_PAINT, 20), tex=_tex(0.03, 0.05), z=z
                )
                self.draw.rectangle((x, top, x + seg, y0), fill=look)
            elif u < p_build + 0.55:
                n = max(3, int(seg / 6))
                pts = [(x, y0)]
                for i in range(n + 1):
                    pts.append((x + seg * i / n, y0 - s * r.uniform(6, 25)))
                pts.append((x + seg, y0))
                self.poly(pts, self.foliage(z=z))
            x += seg

    def roadside(self, side: float) -> float:
        """Shoulder, curb and sidewalk on one side; returns the offset where buildings start."""
        r = self.rng
        k = self.kind
        z0, z1 = self.z_near, self.z_far
        edge = side * self.road_w / 2
        if r.random() < k["shoulder"]:
            width = r.uniform(0.4, 2.5)
            label = _C["drivable fallback"]
            look = self.earth(label) if r.random() < 0.6 else self.grey_ground(label)
            self.ground(edge, edge + side * width, z0, z1, look)
            edge += side * width
        if r.random() < k["sidewalk"]:
            curb = r.random() < 0.8
            height = r.uniform(0.1, 0.25) if curb else 0.0
            if curb:
                self.curb(side, edge, height, z0, z1)
                edge += side * 0.25
            width = r.uniform(1.2, 4.0)
            walk = self.grey_ground(_C["sidewalk"])
            if r.random() < 0.4:  # pavers: reddish or patterned
                self.tex[walk] = _tex(0.05, 0.06, 0.03, stripe_h=r.uniform(0.05, 0.2))
                self.base[walk] = self.jitter((150, 110, 100), 25)
            self.ground(edge, edge + side * width, z0, z1, walk, y=height)
            edge += side * width
        if r.random() < k["grass"]:
            far = edge + side * r.uniform(2.0, 30.0)
            za = r.uniform(z0, 30.0)
            self.ground(
                edge + side * r.uniform(0, 2),
                far,
                za,
                za + r.uniform(10, 120),
                self.foliage(shadowed=True),
            )
        if r.random() < 0.4:  # a patch of bare earth or rubble beyond the edge
            za = r.uniform(z0, 40.0)
            self.ground(
                edge,
                edge + side * r.uniform(1.0, 8.0),
                za,
                za + r.uniform(5, 40),
                self.earth(_C["non-drivable fallback"]),
            )
        return edge + side * r.uniform(0.0, 1.5)

    def curb(self, side: float, edge: float, height: float, z0: float, z1: float) -> None:
        r = self.rng
        label = _C["curb"]
        plain = self.paint(label, ((150, 150, 145), (190, 185, 175)), 10.0)
        self.vface(edge, z0, z1, 0.0, height, plain)
        self.ground(edge, edge + side * 0.25, z0, z1, plain, y=height)
        if r.random() < 0.5:  # Indian curbs are often painted in alternating blocks
            other = self.paint(label, ((20, 20, 20), (230, 200, 30), (235, 235, 235)), 10.0)
            step = r.uniform(0.8, 1.6)
            z = z0 + step * r.random()
            while z < min(z1, 30.0):
                self.vface(edge, z, z + step, 0.0, height, other)
                self.ground(edge, edge + side * 0.25, z, z + step, other, y=height)
                z += 2 * step

    def road(self, unpaved: bool) -> None:
        r = self.rng
        half = self.road_w / 2
        z0, z1 = self.z_near, self.z_far
        label = _C["drivable fallback"] if unpaved else _C["road"]
        surface = self.earth(label) if unpaved else self.grey_ground(label)
        self.ground(-half, half, z0, z1, surface)
        for _ in range(int(r.poisson(1.5))):  # repairs (road) and mud / gravel (drivable fallback)
            za = r.uniform(z0, 50.0)
            xa = r.uniform(-half, half)
            xb = xa + r.uniform(0.5, 4.0) * (1 if r.random() < 0.5 else -1)
            if r.random() < 0.5:
                look = self.grey_ground(label)
            else:
                look = self.earth(_C["drivable fallback"])
            self.ground(xa, max(-half, min(half, xb)), za, za + r.uniform(2, 15), look)
        if unpaved:
            return
        paint = (r.uniform(180, 245), r.uniform(170, 235), r.uniform(120, 220))
        mark = self.look(_C["road"], paint, tex=_tex(0.08, 0.25), shadowed=True)
        if r.random() < 0.75:
            dash, gap, width = r.uniform(1.5, 4.0), r.uniform(3.0, 9.0), r.uniform(0.1, 0.2)
            for i in range(1, self.lanes):
                x = -half + i * self.lane_w
                z = z0 + r.uniform(0, dash + gap)
                while z < 70.0:
                    self.ground(x - width / 2, x + width / 2, z, z + dash, mark)
                    z += dash + gap
        if r.random() < 0.4:
            for x in (-half + 0.3, half - 0.3):
                self.ground(x - 0.08, x + 0.08, z0, z1, mark)
        if r.random() < 0.1:  # zebra crossing
            zc = r.uniform(8.0, 25.0)
            x = -half
            while x < half:
                self.ground(x, x + 0.5, zc, zc + 3.0, mark)
                x += 1.0
        for _ in range(int(r.poisson(0.8))):  # shadows of things outside the frame
            za = r.uniform(z0, 40.0)
            xa = r.uniform(-half - 3, half)
            self.ground_shadow(
                xa, xa + r.uniform(1, 6), za, za + r.uniform(2, 20), self.shadow_level
            )

    # ---------------------------------------------------------------- upright objects
    def structures(self, side: float, edge: float) -> None:
        """Buildings, walls, fences and hedges lining one side of the road, segment by segment."""
        r = self.rng
        k = self.kind
        kinds = ("building", "wall", "fence", "vegetation")
        p = np.array([k["building"], k["wall"], k["fence"], 0.0])
        p[3] = max(0.05, 1.0 - p[:3].sum())
        p = p / p.sum()
        z = self.z_near
        z_end = r.uniform(60.0, 160.0)
        while z < z_end:
            what = kinds[int(r.choice(4, p=p))]
            length = r.uniform(6.0, 28.0)
            x = edge + side * r.uniform(0.0, 2.0)
            z0, z1 = z, z + length
            if what == "building":
                self.add(z1, lambda x=x, z0=z0, z1=z1: self.building(side, x, z0, z1))
            elif what == "wall":
                self.add(z1, lambda x=x, z0=z0, z1=z1: self.wall(side, x, z0, z1))
            elif what == "fence":
                self.add(z1, lambda x=x, z0=z0, z1=z1: self.fence(x, z0, z1))
            else:
                self.add(z1, lambda x=x, z0=z0, z1=z1: self.hedge(side, x, z0, z1))
            z = z1 + (r.uniform(0.0, 4.0) if r.random() < 0.5 else 0.0)
        for _ in range(int(r.poisson(k["trees"] * 0.8))):
            zt = r.uniform(self.z_bottom * 1.5, 90.0)
            xt = edge + side * r.uniform(-0.5, 3.0)
            self.add(zt, lambda xt=xt, zt=zt: self.tree(xt, zt))

    def building(self, side: float, x: float, z0: float, z1: float) -> None:
        r = self.rng
        height = r.uniform(3.5, 9.0) if r.random() < 0.7 else r.uniform(9.0, 22.0)
        zm = max(z0, self.z_bottom)
        wall = self.paint(_C["building"], _WALL_PAINT, zm, texture=0.08)
        self.tex[wall] = _tex(
            r.uniform(0.01, 0.06),
            r.uniform(0.02, 0.12),
            r.uniform(0.0, 0.08),
            stripe_h=r.uniform(0.0, 0.06),
            ramp=r.uniform(-0.2, 0.1),
        )
        self.vface(x, z0, z1, 0.0, height, wall)
        if z0 > self.z_bottom:  # the end wall, turned away from the sun or toward it
            end = self.look(
                _C["building"],
                [c * r.uniform(0.6, 0.95) for c in self.base[wall]],
                tex=self.tex[wall],
            )
            depth = r.uniform(4.0, 12.0)
            self.poly(
                [
                    self.px(x, 0, z0),
                    self.px(x + side * depth, 0, z0),
                    self.px(x + side * depth, height, z0),
                    self.px(x, height, z0),
                ],
                end,
            )
        glass = self.dark(_C["building"], zm, (25, 110))
        floors = int(height / 3.0)
        n_cols = int((z1 - z0) / 3.5)
        if floors >= 1 and n_cols >= 1 and (z1 - z0) * self.f / zm > 12:
            zw = (z1 - z0) / n_cols
            rows = range(1 if r.random() < 0.6 else 0, floors)
            cols = [z0 + (j + 0.25) * zw for j in range(n_cols) if z0 + j * zw > self.z_near]
            for i in rows[:6]:
                for zc in cols[:8]:
                    self.vface(x, zc, zc + zw * 0.5, i * 3.0 + 0.9, i * 3.0 + 2.2, glass)
        if r.random() < 0.5 * self.kind["billboard"] + 0.1:  # shop sign: a billboard in IDD terms
            self.signboard(
                x,
                z0 + (z1 - z0) * r.uniform(0, 0.3),
                z1 - (z1 - z0) * r.uniform(0, 0.3),
                min(height - 0.6, r.uniform(2.4, 3.2)),
            )
        if height < 12 and r.random() < 0.4:  # shutters of the ground floor
            shutter = self.paint(_C["building"], ((120, 120, 125), (90, 100, 110)), zm)
            self.tex[shutter] = _tex(0.02, stripe_h=0.25)
            self.vface(x, z0 + 0.5, z1 - 0.5, 0.0, 2.2, shutter)
        if r.random() < 0.5:
            self.ground_shadow(
                x, x - side * r.uniform(0.3, 1.0) * height, z0, z1, self.shadow_level
            )

    def signboard(self, x: float, z0: float, z1: float, y: float) -> None:
        r = self.rng
        look = self.paint(_C["billboard"], _VIVID, max(z0, self.z_bottom))
        self.tex[look] = _tex(0.03, 0.05, stripe_h=r.uniform(0.1, 0.4), stripe_v=r.uniform(0, 0.3))
        self.vface(x, z0, z1, y, y + r.uniform(0.6, 1.4), look)

    def wall(self, side: float, x: float, z0: float, z1: float) -> None:
        r = self.rng
        height = r.uniform(1.0, 3.0)
        zm = max(z0, self.z_bottom)
        look = self.paint(_C["wall"], _WALL_PAINT, zm, texture=0.1)
        self.tex[look] = _tex(
            r.uniform(0.02, 0.08),
            r.uniform(0.03, 0.15),
            r.uniform(0.0, 0.1),
            stripe_h=r.uniform(0.0, 0.15),
            ramp=r.uniform(-0.1, 0.1),
        )
        self.vface(x, z0, z1, 0.0, height, look)
        if r.random() < 0.3:  # painted advertisement on the wall stays a wall
            ad = self.paint(_C["wall"], _VIVID, zm)
            za = z0 + (z1 - z0) * r.uniform(0, 0.5)
            self.vface(x, za, za + (z1 - z0) * 0.4, 0.3, height - 0.2, ad)
        if r.random() < 0.3:
            self.fence(x, z0, z1, y0=height)
        elif r.random() < 0.3:
            self.hedge(side, x + side * 1.0, z0, z1, low=height)

    def fence(self, x: float, z0: float, z1: float, y0: float = 0.0) -> None:
        r = self.rng
        label = _C["fence"]
        zm = max(z0, self.z_bottom)
        metal = self.paint(
            label, ((60, 60, 60), (110, 120, 110), (150, 150, 140), (40, 80, 60)), zm
        )
        self.tex[metal] = _tex(0.04, 0.05, stripe_v=r.uniform(0.2, 0.6), stripe_h=r.uniform(0, 0.2))
        self.vface(x, z0, z1, y0, y0 + r.uniform(0.9, 2.0), metal)

    def hedge(self, side: float, x: float, z0: float, z1: float, low: float = 0.0) -> None:
        r = self.rng
        height = low + r.uniform(1.5, 6.0)
        zs = self.zs(max(z0, self.z_near), z1)
        pts = [self.px(x, 0, z) for z in zs]
        bumps = max(3, int((z1 - z0) / 2))
        for i in range(bumps, -1, -1):
            z = z0 + (z1 - z0) * i / bumps
            if z > self.z_near:
                pts.append(self.px(x, height * r.uniform(0.7, 1.3), z))
        self.poly(pts, self.foliage(z=max(z0, self.z_bottom)))
        if r.random() < 0.5:
            self.tree(x + side * r.uniform(0, 3), r.uniform(max(z0, self.z_bottom * 1.5), z1 + 1))

    def tree(self, x: float, z: float) -> None:
        r = self.rng
        trunk_h = r.uniform(1.5, 4.0)
        radius = r.uniform(2.0, 5.5)
        tw = r.uniform(0.15, 0.3)
        bark = self.look(_C["vegetation"], self.jitter((80, 65, 50), 15), tex=_tex(0.08, 0.1), z=z)
        self.zface(x - tw, x + tw, 0.0, trunk_h + radius * 0.5, z, bark)
        cx, cy = self.px(x, trunk_h + radius * 0.8, z)
        s = self.f / z
        for _ in range(int(r.integers(1, 4))):
            n = 9
            rad = radius * s * r.uniform(0.6, 1.0)
            ox, oy = cx + r.uniform(-0.5, 0.5) * rad, cy + r.uniform(-0.4, 0.3) * rad
            pts = []
            for i in range(n):
                t = 2 * math.pi * i / n
                q = rad * r.uniform(0.7, 1.15)
                pts.append((ox + q * math.cos(t), oy + q * math.sin(t) * 0.85))
            self.poly(pts, self.foliage(z=z))
        if r.random() < 0.6:
            self.ground_shadow(
                x - radius, x + radius, z - radius * 0.5, z + radius * 0.5, self.shadow_level
            )

    def street_furniture(self, side: float, edge: float) -> None:
        """Street lights, signs, traffic lights and billboards along one side."""
        r = self.rng
        curb_x = edge - side * r.uniform(0.3, 1.0)
        if r.random() < 0.5:
            step = r.uniform(20.0, 45.0)
            z = self.z_bottom * 2.0 + r.uniform(0, step)
            while z < 110.0:
                self.add(z, lambda z=z: self.street_light(side, curb_x, z))
                z += step
        for _ in range(int(r.poisson(0.9))):
            z = r.uniform(self.z_bottom * 1.5, 60.0)
            self.add(z, lambda z=z: self.traffic_sign(curb_x + side * r.uniform(0, 1), z))
        if r.random() < 0.2:
            z = r.uniform(self.z_bottom * 1.8, 50.0)
            self.add(z, lambda z=z: self.traffic_light(side, curb_x, z))
        if r.random() < self.kind["billboard"]:
            z = r.uniform(15.0, 80.0)
            x = edge + side * r.uniform(1.0, 10.0)
            self.add(z - 1.0, lambda z=z, x=x: self.billboard(x, z))

    def pole_look(self, z: float) -> int:
        return self.paint(
            _C["pole"], ((150, 150, 150), (90, 90, 90), (200, 200, 195), (60, 70, 60)), z
        )

    def street_light(self, side: float, x: float, z: float) -> None:
        r = self.rng
        height = r.uniform(6.0, 10.0)
        look = self.pole_look(z)
        w = r.uniform(0.05, 0.1)
        self.zface(x - w, x + w, 0.0, height, z, look)
        arm = r.uniform(1.0, 3.0)
        a, b = self.px(x, height, z), self.px(x - side * arm, height - 0.3, z)
        self.draw.line([a, b], fill=look, width=max(1, round(0.1 * self.f / z)))
        if r.random() < 0.3:
            self.sign_plate(x, z, r.uniform(2.2, 3.2))

    def traffic_sign(self, x: float, z: float) -> None:
        r = self.rng
        height = r.uniform(2.0, 3.0)
        w = 0.04
        self.zface(x - w, x + w, 0.0, height, z, self.pole_look(z))
        self.sign_plate(x, z, height)

    def sign_plate(self, x: float, z: float, y: float) -> None:
        r = self.rng
        label = _C["traffic sign"]
        size = r.uniform(0.5, 0.9)
        ring = self.paint(label, ((200, 30, 30), (30, 60, 160), (230, 190, 30), (30, 120, 60)), z)
        inner = self.paint(label, ((235, 235, 230), (30, 60, 160), (20, 20, 20)), z)
        shape = int(r.integers(3))
        if shape == 0:
            parts = [
                ("e", (0, 0, size / 2, size / 2), ring),
                ("e", (0, 0, size / 3, size / 3), inner),
            ]
        elif shape == 1:
            parts = [
                ("p", ((-size / 2, -size / 3), (size / 2, -size / 3), (0, size / 2)), ring),
                ("p", ((-size / 4, -size / 5), (size / 4, -size / 5), (0, size / 4)), inner),
            ]
        else:
            w = size * r.uniform(0.8, 1.8)
            parts = [
                (
                    "p",
                    (
                        (-w / 2, -size / 2),
                        (w / 2, -size / 2),
                        (w / 2, size / 2),
                        (-w / 2, size / 2),
                    ),
                    ring,
                ),
                ("l", ((-w / 3, 0), (w / 3, 0)), inner, 0.08),
            ]
        self.sprite(parts, x, z, y=y + size / 2)

    def traffic_light(self, side: float, x: float, z: float) -> None:
        r = self.rng
        label = _C["traffic light"]
        pole = self.pole_look(z)
        height = r.uniform(3.0, 5.5)
        w = 0.07
        self.zface(x - w, x + w, 0.0, height, z, pole)
        housing = self.paint(label, ((30, 30, 30), (200, 170, 30), (60, 60, 60)), z)
        lamps = [
            self.paint(label, (c,), z) for c in ((230, 60, 40), (240, 180, 40), (60, 220, 120))
        ]
        spots = [x]
        if r.random() < 0.5:  # a mast arm over the road with a second head
            reach = r.uniform(2.0, 5.0)
            a, b = self.px(x, height, z), self.px(x - side * reach, height, z)
            self.draw.line([a, b], fill=pole, width=max(1, round(0.1 * self.f / z)))
            spots.append(x - side * reach)
        for sx in spots:
            parts = [("p", ((-0.17, -0.95), (0.17, -0.95), (0.17, 0.0), (-0.17, 0.0)), housing)]
            parts += [("e", (0, -0.16 - 0.3 * i, 0.1, 0.1), lamps[i]) for i in range(3)]
            self.sprite(parts, sx, z, y=height + 0.2)

    def billboard(self, x: float, z: float) -> None:
        r = self.rng
        width, height = r.uniform(3.0, 9.0), r.uniform(1.8, 4.5)
        y0 = r.uniform(2.5, 7.0)
        pole = self.pole_look(z)
        for px in (x - width / 3, x + width / 3):
            self.zface(px - 0.08, px + 0.08, 0.0, y0, z, pole)
        board = self.paint(_C["billboard"], _VIVID, z)
        self.tex[board] = _tex(0.03, r.uniform(0.0, 0.2), r.uniform(0, 0.2), r.uniform(0, 0.3))
        self.zface(x - width / 2, x + width / 2, y0, y0 + height, z, board)
        for _ in range(int(r.integers(1, 4))):  # pictures and text blocks
            inner = self.paint(_C["billboard"], _VIVID + _CLOTHES, z)
            u0, v0 = r.uniform(-0.45, 0.2), r.uniform(0.05, 0.6)
            self.zface(
                x + u0 * width,
                x + (u0 + r.uniform(0.1, 0.4)) * width,
                y0 + v0 * height,
                y0 + (v0 + r.uniform(0.1, 0.35)) * height,
                z,
                inner,
            )

    def barriers(self) -> None:
        """Dividers, barricades and drums (obs-str-bar-fallback) and guard rails."""
        r = self.rng
        label = _C["obs-str-bar-fallback"]
        if self.lanes >= 2 and r.random() < 0.3:
            x = -self.road_w / 2 + self.lane_w * int(r.integers(1, self.lanes))
            height, w = r.uniform(0.3, 1.0), r.uniform(0.2, 0.4)
            look = self.paint(label, ((200, 200, 195), (230, 200, 40), (120, 120, 120)), 20.0)
            self.tex[look] = _tex(0.04, 0.06, stripe_v=r.uniform(0, 0.5))
            z = r.uniform(self.z_near, 30.0)
            z_end = r.uniform(40.0, 120.0)
            while z < z_end:
                z1 = z * 1.4 + 2.0
                self.add(z1, lambda z=z, z1=z1: self.median_block(x, w, height, z, z1, look))
                z = z1
        if r.random() < 0.45 * (1 if self.kind["traffic"] > 3 else 0.5):
            self.barricades(label)
        if r.random() < self.kind["guard"]:
            side = -1.0 if r.random() < 0.5 else 1.0
            self.guard_rails(side * (self.road_w / 2 + r.uniform(0.3, 1.5)))

    def median_block(
        self, x: float, w: float, height: float, z0: float, z1: float, look: int
    ) -> None:
        top = self.look(self.labels[look], [c * 1.1 for c in self.base[look]], tex=self.tex[look])
        near_side = x - w if self.px(x, 0, z0)[0] > self.xv else x + w
        self.vface(near_side, z0, z1, 0.0, height, look)
        self.ground(x - w, x + w, z0, z1, top, y=height)

    def barricades(self, label: int) -> None:
        r = self.rng
        for _ in range(int(r.integers(1, 4))):
            z = r.uniform(self.z_bottom * 1.2, 45.0)
            x = r.uniform(-self.road_w / 2, self.road_w / 2)
            self.add(z, lambda z=z, x=x: self.barricade(x, z, label))

    def barricade(self, x: float, z: float, label: int) -> None:
        r = self.rng
        a = self.paint(label, ((230, 200, 30), (220, 40, 40), (230, 230, 225)), z)
        b = self.paint(label, ((20, 20, 20), (240, 240, 235)), z)
        if r.random() < 0.5:  # striped police barricade on legs
            w = r.uniform(1.2, 2.2)
            parts = [
                ("l", ((-w / 2 + 0.1, 0), (-w / 2 + 0.1, 0.7)), b, 0.06),
                ("l", ((w / 2 - 0.1, 0), (w / 2 - 0.1, 0.7)), b, 0.06),
                ("p", ((-w / 2, 0.6), (w / 2, 0.6), (w / 2, 1.1), (-w / 2, 1.1)), a),
            ]
            n = 4
            for i in range(n):
                u = -w / 2 + w * i / n
                parts.append(
                    (
                        "p",
                        (
                            (u, 0.6),
                            (u + w / (2 * n), 0.6),
                            (u + w / n, 1.1),
                            (u + w / (2 * n), 1.1),
                        ),
                        b,
                    )
                )
        else:  # drums and jersey blocks
            w = r.uniform(0.5, 1.6)
            hgt = r.uniform(0.7, 1.1)
            parts = [
                ("p", ((-w / 2, 0), (w / 2, 0), (w / 2 * 0.8, hgt), (-w / 2 * 0.8, hgt)), a),
                (
                    "p",
                    (
                        (-w / 2, hgt * 0.4),
                        (w / 2, hgt * 0.4),
                        (w / 2, hgt * 0.6),
                        (-w / 2, hgt * 0.6),
                    ),
                    b,
                ),
            ]
        self.sprite(parts, x, z)

    def guard_rails(self, x: float) -> None:
        r = self.rng
        z = r.uniform(self.z_near, 20.0)
        z_end = r.uniform(40.0, 130.0)
        look = self.paint(_C["guard rail"], ((170, 175, 180), (200, 200, 200), (130, 135, 140)), 20)
        self.tex[look] = _tex(0.03, 0.04, stripe_h=r.uniform(0.1, 0.3))
        while z < z_end:
            z1 = z * 1.35 + 2.0
            self.add(z1, lambda z=z, z1=z1: self.rail_segment(x, z, z1, look))
            z = z1

    def rail_segment(self, x: float, z0: float, z1: float, look: int) -> None:
        self.vface(x, z0, z1, 0.45, 0.8, look)
        z = z0
        while z < z1:
            if z > self.z_near:
                a, b = self.px(x, 0.0, z), self.px(x, 0.8, z)
                self.draw.line([a, b], fill=look, width=max(1, round(0.12 * self.f / z)))
            z += 4.0

    def bridge(self) -> None:
        r = self.rng
        z = r.uniform(25.0, 90.0)
        label = _C["bridge"]
        y0 = r.uniform(5.5, 8.0)
        thick = r.uniform(1.2, 2.5)
        concrete = self.paint(label, ((170, 170, 165), (140, 135, 130), (200, 195, 185)), z, 0.1)
        self.tex[concrete] = _tex(0.04, 0.1, 0.08, stripe_h=r.uniform(0, 0.15))

        def draw() -> None:
            # half the frame width in metres at this depth, plus the curve and camera offsets
            span = z * self.w / self.f + abs(self.curve) * z * z + abs(self.cam_x) + 5.0
            self.zface(-span, span, y0, y0 + thick, z, concrete)
            rail = self.look(label, [c * 0.8 for c in self.base[concrete]], tex=_tex(0.03), z=z)
            self.zface(-span, span, y0 + thick, y0 + thick + 0.8, z + 0.5, rail)
            for side in (-1.0, 1.0):
                x = side * (self.road_w / 2 + r.uniform(0.5, 3.0))
                w = r.uniform(0.5, 1.0)
                self.zface(x - w, x + w, 0.0, y0, z + 0.5, concrete)

        self.add(z, draw)

    # ---------------------------------------------------------------- traffic and people
    def traffic(self) -> None:
        r = self.rng
        half = self.road_w / 2
        two_way = r.random() < 0.6
        for _ in range(int(r.poisson(self.kind["traffic"]))):
            kind = _VEHICLES[int(r.choice(len(_VEHICLES), p=_VEHICLE_P))]
            lane = int(r.integers(self.lanes))
            x = -half + (lane + 0.5) * self.lane_w + r.uniform(-0.8, 0.8)
            z = self.z_bottom * r.uniform(0.9, 1.4) + r.exponential(22.0)
            if z > 110.0:
                continue
            toward = two_way and lane >= self.lanes / 2
            self.add(z, lambda k=kind, x=x, z=z, t=toward: self.vehicle(k, x, z, t))
        for side in (-1.0, 1.0):  # parked two-wheelers and cars on the edge
            for _ in range(int(r.poisson(0.6))):
                kind = ("motorcycle", "bicycle", "car", "autorickshaw")[int(r.integers(4))]
                z = r.uniform(self.z_bottom * 1.2, 50.0)
                x = side * (half + r.uniform(0.0, 1.5))
                self.add(z, lambda k=kind, x=x, z=z: self.vehicle(k, x, z, False, parked=True))

    def vehicle(self, kind: str, x: float, z: float, toward: bool, parked: bool = False) -> None:
        r = self.rng
        label = _C[kind]
        if kind in ("motorcycle", "bicycle"):
            self.two_wheeler(kind, x, z, parked)
            return
        paint = self.paint(label, _PAINT, z, texture=0.05)
        self.tex[paint] = _tex(0.02, 0.03, ramp=r.uniform(-0.3, 0.1))
        tyre = self.dark(label, z, (15, 40))
        glass = self.dark(label, z, (30, 90))
        w = {"car": 1.75, "truck": 2.4, "bus": 2.5, "autorickshaw": 1.35, "vehicle fallback": 1.9}[
            kind
        ] * r.uniform(0.9, 1.1)
        self.ground_shadow(x - w * 0.6, x + w * 0.6, z - 0.3, z + 3.0, self.shadow_level)
        if kind == "car":
            length = r.uniform(3.6, 4.8)
            self.box(x, z, w, length, 0.3, 0.9, paint, tyre, wheels=0.32)
            cab = self.paint(label, (self.base[paint],), z, 0.02)
            self.box(
                x,
                z + 0.8,
                w * 0.84,
                length - 1.8,
                0.9,
                r.uniform(1.35, 1.55),
                cab,
                glass,
                window=glass,
            )
            for u in (-0.4, 0.3):
                light = self.paint(label, ((220, 40, 40),) if not toward else ((240, 240, 220),), z)
                self.zface(x + u * w, x + (u + 0.1) * w, 0.6, 0.75, z, light)
        elif kind == "truck":
            cargo_len = r.uniform(4.5, 7.0)
            cargo_top = r.uniform(2.8, 3.8)
            cargo = self.paint(label, _PAINT + _VIVID, z, 0.08)
            self.tex[cargo] = _tex(
                0.03, 0.08, stripe_h=r.uniform(0, 0.2), stripe_v=r.uniform(0, 0.2)
            )
            if toward:
                self.box(x, z + 2.1, w, cargo_len, 0.9, cargo_top, cargo, tyre, wheels=0.5)
                self.box(x, z, w * 0.95, 2.0, 0.7, 2.8, paint, tyre, window=glass, wheels=0.5)
            else:
                self.box(x, z + cargo_len, w * 0.95, 2.0, 0.7, 2.8, paint, tyre, wheels=0.5)
                self.box(x, z, w, cargo_len, 0.9, cargo_top, cargo, tyre, wheels=0.5)
                self.zface(x - w * 0.45, x + w * 0.45, 0.0, 0.9, z + 0.2, tyre)
        elif kind == "bus":
            length = r.uniform(9.0, 12.0)
            self.box(
                x,
                z,
                w,
                length,
                0.35,
                r.uniform(3.0, 3.4),
                paint,
                tyre,
                window=glass,
                wheels=0.5,
                side_windows=glass,
            )
        elif kind == "autorickshaw":
            body = self.paint(label, ((40, 140, 60), (230, 200, 40), (30, 30, 30), *_PAINT[:4]), z)
            hood = self.paint(label, ((30, 30, 30), (230, 200, 40), (40, 120, 60)), z)
            length = r.uniform(2.4, 2.8)
            self.box(x, z, w, length, 0.25, 0.85, body, tyre, wheels=0.22)
            self.box(x, z + 0.2, w * 0.95, length - 0.5, 0.85, 1.75, hood, glass, window=glass)
        else:  # vehicle fallback: tractor, hand cart or tempo
            style = int(r.integers(3))
            if style == 0:
                self.box(x, z + 1.0, w * 0.6, 2.2, 0.6, 1.5, paint, tyre, wheels=0.35)
                for sx in (-1, 1):
                    self.zface(x + sx * w * 0.5 - 0.25, x + sx * w * 0.5 + 0.25, 0.0, 1.5, z, tyre)
                self.box(x, z + 0.3, 0.9, 0.8, 1.2, 1.9, paint, tyre)
            elif style == 1:
                load = self.earth(label, z)
                self.shadowed[load] = False
                self.box(
                    x, z, w, 2.5, 0.6, 0.9, self.paint(label, ((120, 90, 60),), z), tyre, wheels=0.6
                )
                self.box(x, z + 0.2, w * 0.9, 2.0, 0.9, r.uniform(1.6, 2.4), load, tyre)
            else:
                self.box(
                    x, z, w, 3.2, 0.4, r.uniform(1.8, 2.3), paint, tyre, window=glass, wheels=0.3
                )

    def box(
        self,
        x: float,
        z: float,
        w: float,
        length: float,
        y0: float,
        y1: float,
        look: int,
        tyre: int,
        *,
        window: int | None = None,
        wheels: float = 0.0,
        side_windows: int | None = None,
    ) -> None:
        """A vehicle body as a box: its visible side and top, then the face toward the camera."""
        if z <= self.z_near:
            return
        side_look = self.look(
            self.labels[look],
            [c * 0.82 for c in self.base[look]],
            delta=self.delta[look],
            tex=self.tex[look],
        )
        rel = x - self.cam_x + self.curve * z * z
        xs = x - w / 2 if rel - w / 2 > 0 else (x + w / 2 if rel + w / 2 < 0 else None)
        z1 = z + length
        if xs is not None:
            self.vface(xs, z, z1, y0, y1, side_look)
            if side_windows is not None:
                self.vface(
                    xs,
                    z + 0.8,
                    z1 - 0.8,
                    y0 + (y1 - y0) * 0.55,
                    y0 + (y1 - y0) * 0.85,
                    side_windows,
                )
            if wheels > 0:
                for zc in (z + wheels * 2.2, z1 - wheels * 2.2):
                    pts = [
                        self.px(xs, wheels + wheels * math.sin(t), zc + wheels * math.cos(t))
                        for t in np.linspace(0, 2 * math.pi, 9)[:-1]
                    ]
                    self.poly(pts, tyre)
        if y1 < self.hc:
            top = self.look(
                self.labels[look],
                [min(255.0, c * 1.12) for c in self.base[look]],
                tex=self.tex[look],
            )
            self.ground(x - w / 2, x + w / 2, z, z1, top, y=y1)
        if wheels > 0:
            for sx in (-1, 1):
                xa = x + sx * (w / 2 - 0.05)
                self.zface(xa, xa - sx * 0.25, 0.0, min(y0 + 0.15, 2 * wheels), z + 0.05, tyre)
        self.zface(x - w / 2, x + w / 2, y0, y1, z, look)
        if window is not None:
            hgt = y1 - y0
            self.zface(x - w * 0.4, x + w * 0.4, y0 + hgt * 0.5, y0 + hgt * 0.88, z, window)

    def two_wheeler(self, kind: str, x: float, z: float, parked: bool) -> None:
        r = self.rng
        label = _C[kind]
        frame = self.paint(label, _PAINT[:6] + _PAINT[8:], z)
        tyre = self.dark(label, z, (10, 40))
        side_view = parked or r.random() < 0.25
        squeeze = r.uniform(0.35, 1.0) * (1 if r.random() < 0.5 else -1)
        if kind == "motorcycle":
            if side_view:
                parts = [
                    ("e", (-0.68, 0.3, 0.3, 0.3), tyre),
                    ("e", (0.68, 0.3, 0.3, 0.3), tyre),
                    (
                        "p",
                        (
                            (-0.75, 0.5),
                            (-0.2, 0.45),
                            (0.5, 0.5),
                            (0.55, 0.8),
                            (0.1, 0.85),
                            (-0.55, 0.8),
                        ),
                        frame,
                    ),
                    ("l", ((0.68, 0.3), (0.5, 1.0)), frame, 0.05),
                ]
            else:
                parts = [
                    ("p", ((-0.07, 0), (0.07, 0), (0.07, 0.6), (-0.07, 0.6)), tyre),
                    ("p", ((-0.22, 0.4), (0.22, 0.4), (0.2, 0.85), (-0.2, 0.85)), frame),
                    ("l", ((-0.38, 1.0), (0.38, 1.0)), tyre, 0.04),
                ]
            seat = 0.8
        else:
            if side_view:
                parts = [
                    ("l", _ring(-0.52, 0.33, 0.33), tyre, 0.04),
                    ("l", _ring(0.52, 0.33, 0.33), tyre, 0.04),
                    (
                        "l",
                        ((-0.52, 0.33), (-0.1, 0.85), (0.45, 0.85), (0.0, 0.33), (-0.52, 0.33)),
                        frame,
                        0.04,
                    ),
                    ("l", ((0.52, 0.33), (0.4, 1.0)), frame, 0.04),
                ]
            else:
                parts = [
                    ("p", ((-0.03, 0), (0.03, 0), (0.03, 0.7), (-0.03, 0.7)), tyre),
                    ("l", ((-0.28, 1.0), (0.28, 1.0)), frame, 0.04),
                    ("p", ((-0.1, 0.8), (0.1, 0.8), (0.1, 0.95), (-0.1, 0.95)), frame),
                ]
            seat = 0.9
        self.sprite(parts, x, z, squeeze=squeeze if side_view else 1.0)
        if parked and r.random() < 0.8:
            return
        if not parked or r.random() < 0.5:
            riders = 1 + int(kind == "motorcycle" and r.random() < 0.3)
            for i in range(riders):
                self.sprite(
                    self.person_parts(_C["rider"], z, seated=True, side=side_view),
                    x,
                    z - 0.05 * i,
                    squeeze=squeeze if side_view else 1.0,
                    y=seat - 0.1 * i,
                )

    def person_parts(self, label: int, z: float, *, seated: bool, side: bool) -> list[tuple]:
        """A figure in metres with its feet (or seat) at the origin."""
        r = self.rng
        shirt = self.paint(label, _CLOTHES, z, 0.08)
        pants = self.paint(label, _CLOTHES, z, 0.08)
        skin = self.paint(label, _SKIN, z)
        hair = self.paint(label, ((20, 20, 20), (40, 35, 30), (200, 200, 200), *_VIVID[:3]), z)
        h = r.uniform(1.45, 1.85)
        if seated:
            torso0, head = 0.0, 0.72
            if side:
                legs = [
                    (
                        "p",
                        (
                            (-0.1, 0.05),
                            (0.35, 0.1),
                            (0.4, -0.5),
                            (0.3, -0.55),
                            (0.25, -0.05),
                            (-0.1, -0.1),
                        ),
                        pants,
                    )
                ]
            else:
                legs = [
                    ("p", ((-0.28, 0.05), (-0.12, 0.05), (-0.2, -0.55), (-0.3, -0.55)), pants),
                    ("p", ((0.12, 0.05), (0.28, 0.05), (0.3, -0.55), (0.2, -0.55)), pants),
                ]
        else:
            torso0, head = 0.47 * h, 0.91 * h
            spread = r.uniform(0.0, 0.2) if side else 0.0
            legs = [
                (
                    "p",
                    ((-0.14 - spread, 0), (-0.02, 0), (0.0, torso0 + 0.05), (-0.16, torso0 + 0.05)),
                    pants,
                ),
                (
                    "p",
                    ((0.02, 0), (0.14 + spread, 0), (0.16, torso0 + 0.05), (0.0, torso0 + 0.05)),
                    pants,
                ),
            ]
            if r.random() < 0.25:  # sari, kurta or dress over the legs
                legs = [
                    (
                        "p",
                        ((-0.25, 0), (0.25, 0), (0.18, torso0 + 0.1), (-0.18, torso0 + 0.1)),
                        shirt,
                    )
                ]
        top = torso0 + 0.34 * h
        half = 0.2 * (0.7 if side else 1.0)
        body = [
            (
                "p",
                ((-half, torso0), (half, torso0), (half + 0.02, top), (-half - 0.02, top)),
                shirt,
            ),
            ("l", ((half, top - 0.02), (half + 0.07, torso0 + 0.02)), shirt, 0.09),
            ("l", ((-half, top - 0.02), (-half - 0.07, torso0 + 0.02)), shirt, 0.09),
            ("e", (0.0, head + 0.02, 0.1, 0.12), skin),
            ("e", (0.0, head + 0.08, 0.105, 0.07), hair),
        ]
        return legs + body

    def people(self, edges: dict[float, float]) -> None:
        r = self.rng
        for _ in range(int(r.poisson(self.kind["people"]))):
            side = -1.0 if r.random() < 0.5 else 1.0
            on_road = r.random() < 0.25
            half = self.road_w / 2
            x = r.uniform(-half, half) if on_road else edges[side] - side * r.uniform(0.0, 3.0)
            z = self.z_bottom * r.uniform(1.0, 1.5) + r.exponential(18.0)
            if z > 90.0:
                continue
            n = 1 + int(r.random() < 0.3)
            for i in range(n):
                zi, xi = z + 0.6 * i, x + r.uniform(-0.8, 0.8) * i
                self.add(zi, lambda zi=zi, xi=xi: self.pedestrian(xi, zi))

    def pedestrian(self, x: float, z: float) -> None:
        side = self.rng.random() < 0.4
        parts = self.person_parts(_C["person"], z, seated=False, side=side)
        self.sprite(
            parts, x, z, squeeze=1.0 if not side else (1 if self.rng.random() < 0.5 else -1)
        )

    def bonnet(self) -> None:
        """The ego vehicle's bonnet: void in IDD, dark paint with a reflection in the image."""
        r = self.rng
        hb = self.h * r.uniform(0.06, 0.14)
        cx = self.w * r.uniform(0.4, 0.6)
        g = r.uniform(20, 120)
        look = self.look(
            VOID,
            self.jitter((g, g, g), 15),
            delta=(20, 20, 20),
            tex=_tex(0.01, 0.05, 0.2, ramp=r.uniform(-0.5, 0.5)),
        )
        pts = [(-1.0, self.h + 1.0)]
        for i in range(9):
            x = -1.0 + (self.w + 2.0) * i / 8
            pts.append((x, self.h - hb + hb * 0.7 * ((x - cx) / (self.w / 1.6)) ** 2))
        pts.append((self.w + 1.0, self.h + 1.0))
        self.poly(pts, look)

    # ---------------------------------------------------------------- pixels
    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Canvas of looks -> labels and a lit, textured, noisy, blurred RGB image."""
        r = self.rng
        h, w = self.h, self.w
        inst = np.asarray(self.canvas)
        label = np.take(np.asarray(self.labels, dtype=np.uint8), inst)
        if r.random() < 0.07:  # out-of-ROI strip at the bottom, like IDD's unlabelled margin
            label[h - max(1, int(h * r.uniform(0.03, 0.08))) :] = VOID

        fine = r.standard_normal((h, w), dtype=np.float32)
        blotch = _smooth_noise(r, h, w, max(2.0, w / r.uniform(40, 90)))
        coarse = _smooth_noise(r, h, w, max(4.0, w / r.uniform(6, 16)))
        period_h = r.uniform(2.5, 6.0)
        period_v = r.uniform(2.5, 6.0)
        stripe_h = np.sin(np.arange(h, dtype=np.float32)[:, None] * (2 * math.pi / period_h))
        stripe_v = np.sin(np.arange(w, dtype=np.float32)[None, :] * (2 * math.pi / period_v))
        ramp = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
        layers = (fine, blotch, coarse, stripe_h, stripe_v, ramp)

        # np.take is several times faster than fancy indexing for these per-look lookups.
        amps = np.asarray(self.tex, dtype=np.float32).T.copy()
        amps[_FINE] += r.uniform(0.01, 0.05)  # sensor noise shares the per-pixel noise layer
        lum = np.ones((h, w), dtype=np.float32)
        for amp, layer in zip(amps, layers, strict=True):
            if amp.any():
                lum += np.take(amp, inst) * layer
        lum += r.uniform(0.0, 0.25) * _smooth_noise(r, h, w, max(4.0, w / r.uniform(2, 6)))
        if self.has_shadow:
            shaded = np.take(np.asarray(self.shadowed, dtype=bool), inst)
            shade = np.asarray(self.shade, dtype=np.float32) * (1 / 255)
            lum *= np.where(shaded, shade, np.float32(1.0))

        rgb = np.take(np.asarray(self.base, dtype=np.float32), inst, axis=0)
        rgb += np.take(np.asarray(self.delta, dtype=np.float32), inst, axis=0) * blotch[:, :, None]
        rgb *= lum[:, :, None]
        image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
        image = image.point(_grade_lut(r))
        if r.random() < 0.6:
            image = image.filter(ImageFilter.BoxBlur(r.uniform(0.3, 1.0) * w / 512))
        return np.asarray(image), label


def _ring(cx: float, cy: float, radius: float, n: int = 10) -> tuple[Point, ...]:
    """A closed polyline approximating a circle (wheels drawn as outlines)."""
    return tuple(
        (cx + radius * math.cos(2 * math.pi * i / n), cy + radius * math.sin(2 * math.pi * i / n))
        for i in range(n + 1)
    )


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean noise with features about ``cell`` pixels wide (bilinear-upsampled)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    up = Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(up)


def _grade_lut(rng: np.random.Generator) -> list[int]:
    """Exposure, white balance, contrast and gamma as one 768-entry lookup table."""
    x = np.arange(256, dtype=np.float64) / 255
    exposure = rng.uniform(0.75, 1.25)
    gamma = rng.uniform(0.8, 1.25)
    contrast = rng.uniform(0.8, 1.2)
    lut: list[int] = []
    for gain in rng.uniform(0.9, 1.1, 3):
        y = np.clip(x * exposure * gain, 0, 1) ** gamma
        y = np.clip((y - 0.5) * contrast + 0.5, 0, 1)
        lut.extend(np.round(y * 255).astype(np.uint8).tolist())
    return lut


def _check_size(size: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"size must be (height, width), got {size!r}") from exc
    if h < MIN_SIDE or w < MIN_SIDE:
        raise UsageError(f"size must be at least {MIN_SIDE}x{MIN_SIDE} (HxW), got {h}x{w}")
    return h, w


def render_scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic frame: (RGB uint8 HxWx3, labels uint8 HxW of level-3 ids, 255 = void)."""
    h, w = _check_size(size)
    scene = _Scene(rng, h, w)
    scene.compose()
    return scene.finish()


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one image: derived from (seed, split, index) alone, so any file can be
    regenerated without the others."""
    return np.random.default_rng([seed, zlib.crc32(split.encode("utf-8")), index])


def _names(index: int) -> tuple[str, str]:
    return f"{index:07d}_leftImg8bit.jpg", f"{index:07d}_gtFine_polygons.png"


_OUR_FILE = re.compile(r"^\.?\d{7}_(leftImg8bit\.jpg|gtFine_polygons\.png)(\.tmp)?$")


def _save_atomic(image: Image.Image, path: Path, **options: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, **options)
    os.replace(tmp, path)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _manifest(n_train: int, n_val: int, size: tuple[int, int], seed: int) -> dict[str, Any]:
    return {
        "generator": "segcompress.data.synthetic",
        "version": GENERATOR_VERSION,
        "layout": "idd-kaggle",
        "n_train": n_train,
        "n_val": n_val,
        "size": [size[0], size[1]],
        "seed": seed,
    }


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The manifest of a synthetic dataset folder, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(out) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_synthesized(
    out: str | Path, *, n_train: int, n_val: int, size: tuple[int, int] = (256, 512), seed: int = 0
) -> bool:
    """True when ``out`` holds a complete dataset written by this generator version with these
    arguments, so a caller may reuse it instead of regenerating."""
    data = read_manifest(out)
    if data is None or not data.get("complete"):
        return False
    expected = _manifest(n_train, n_val, (int(size[0]), int(size[1])), seed)
    return all(data.get(k) == v for k, v in expected.items())


def _check_args(n_train: Any, n_val: Any, seed: Any) -> None:
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
    if n_train + n_val < 1:
        raise UsageError("n_train + n_val must be at least 1 (nothing to generate)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")


def synthesize(
    out: str | Path,
    *,
    n_train: int,
    n_val: int,
    size: tuple[int, int] = (256, 512),
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Write a synthetic dataset in the Kaggle IDD layout and return a summary.

    ``{out}/{split}/images/{id:07d}_leftImg8bit.jpg`` and
    ``{out}/{split}/rgb_labels/{id:07d}_gtFine_polygons.png`` (RGB in the IDD level-3 palette,
    void black); train ids are 0..n_train-1 and val ids continue after them. ``{out}/synth.json``
    records the arguments and is marked complete only after the last file is written. Files of an
    earlier synthetic run in ``out`` that the new arguments do not produce are removed.
    """
    _check_args(n_train, n_val, seed)
    h, w = _check_size(size)
    n_train, n_val, seed = int(n_train), int(n_val), int(seed)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UsageError(f"out {root} is a file; give a folder for the dataset")
    if root.is_dir() and any(root.iterdir()) and read_manifest(root) is None:
        raise UsageError(
            f"out {root} is not empty and holds no {MANIFEST_NAME}; give an empty or new folder"
        )
    manifest = _manifest(n_train, n_val, (h, w), seed)
    lut = np.zeros((256, 3), dtype=np.uint8)  # void and unknown ids -> void colour (black)
    lut[:] = IDD_LEVEL3.void_color or (0, 0, 0)
    lut[: IDD_LEVEL3.num_classes] = np.asarray(IDD_LEVEL3.colors, dtype=np.uint8)
    jobs = [("train", i, i) for i in range(n_train)]
    jobs += [("val", i, n_train + i) for i in range(n_val)]
    start = time.perf_counter()
    try:
        for split in SPLITS:
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "rgb_labels").mkdir(parents=True, exist_ok=True)
        _write_json_atomic(root / MANIFEST_NAME, {**manifest, "complete": False})
        iterator: Any = jobs
        if progress:
            from tqdm import tqdm

            iterator = tqdm(jobs, desc="synthesize", unit="img")
        for split, index, file_id in iterator:
            rng = image_rng(seed, split, index)
            image, label = render_scene(rng, (h, w))
            quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
            image_name, label_name = _names(file_id)
            _save_atomic(
                Image.fromarray(image, "RGB"),
                root / split / "images" / image_name,
                format="JPEG",
                quality=quality,
            )
            _save_atomic(
                Image.fromarray(np.take(lut, label, axis=0), "RGB"),
                root / split / "rgb_labels" / label_name,
                format="PNG",
            )
        _remove_stale(
            root, {split: {_names(fid) for s, _, fid in jobs if s == split} for split in SPLITS}
        )
        seconds = time.perf_counter() - start
        _write_json_atomic(root / MANIFEST_NAME, {**manifest, "complete": True})
    except OSError as exc:
        raise DataError(f"{root}: cannot write the synthetic dataset ({exc})") from exc
    return {
        "out": str(root),
        "n_train": n_train,
        "n_val": n_val,
        "size": [h, w],
        "seed": seed,
        "version": GENERATOR_VERSION,
        "seconds": round(seconds, 3),
    }


def _remove_stale(root: Path, keep: dict[str, set[tuple[str, str]]]) -> None:
    """Drop files from an earlier, different run (and temp files of an interrupted one)."""
    for split in SPLITS:
        wanted = {name for pair in keep[split] for name in pair}
        for folder in ("images", "rgb_labels"):
            for path in (root / split / folder).iterdir():
                if _OUR_FILE.match(path.name) and path.name not in wanted:
                    path.unlink()
