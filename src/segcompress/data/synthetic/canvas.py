"""The shared state every part of a scene draws into: canvases, looks and the depth queue.

Why one small class: all parts paint *looks* (material indices) onto the same integer canvas, so
the label map and the RGB image derived from it always agree; the primitives here turn world
geometry into those polygons. What to draw lives in the part modules (road, buildings, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from segcompress.data.synthetic.camera import Camera
from segcompress.data.synthetic.palette import NO_TEX, VOID, Color, Point

__all__ = ["Scene"]


class Scene:
    """One frame: camera, canvases, looks and the far-to-near list of upright objects."""

    def __init__(
        self, rng: np.random.Generator, height: int, width: int, kind: dict[str, float]
    ) -> None:
        """Empty canvases and look tables, the camera, then fog and shadow strength."""
        self.rng = rng
        self.h = height
        self.w = width
        self.kind = kind
        self.canvas = Image.new("I", (width, height), 0)
        self.draw = ImageDraw.Draw(self.canvas)
        self.shade = Image.new("L", (width, height), 255)
        self.shade_draw = ImageDraw.Draw(self.shade)
        self.labels: list[int] = [VOID]
        self.base: list[Color] = [(0.0, 0.0, 0.0)]
        self.delta: list[Color] = [(0.0, 0.0, 0.0)]
        self.tex: list[tuple[float, ...]] = [NO_TEX]
        self.shadowed: list[bool] = [False]
        self.items: list[tuple[float, int, Callable[[], None]]] = []

        self.cam = Camera(rng, height, width)
        self.fog = rng.uniform(120.0, 700.0)
        self.shadow_level = int(rng.uniform(90, 190))
        rng.random()  # once the sun's side, no longer used; still drawn so every pixel stays put
        self.haze: Color = (200.0, 200.0, 200.0)
        self.has_shadow = False
        # The road's cross-section, drawn by layout.compose before any part uses it.
        self.lanes = 0
        self.lane_w = 0.0
        self.road_w = 0.0

    def look(
        self,
        label: int,
        base: Sequence[float],
        *,
        delta: Sequence[float] = (0.0, 0.0, 0.0),
        tex: tuple[float, ...] = NO_TEX,
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

    def poly(self, pts: Sequence[Point], look: int) -> None:
        """Fill a pixel-space polygon with ``look``."""
        self.draw.polygon(list(pts), fill=look)

    def band(self, xa: float, ya: float, xb: float, yb: float, z0: float, z1: float) -> list[Point]:
        """Outline between two edges running away from the camera; [] when none of it is in view."""
        cam = self.cam
        zs = cam.zs(max(z0, cam.z_near), z1)
        if zs[0] >= zs[-1]:
            return []
        return [cam.px(xa, ya, z) for z in zs] + [cam.px(xb, yb, z) for z in reversed(zs)]

    def ground(self, xa: float, xb: float, z0: float, z1: float, look: int, y: float = 0.0) -> None:
        """A strip of ground (or any horizontal surface) between two lateral offsets."""
        pts = self.band(xa, y, xb, y, z0, z1)
        if pts:
            self.poly(pts, look)

    def ground_shadow(self, xa: float, xb: float, z0: float, z1: float, level: int) -> None:
        """Darken a strip of ground in the shade map (applied to shadowed looks only)."""
        pts = self.band(xa, 0.0, xb, 0.0, z0, z1)
        if pts:
            self.shade_draw.polygon(pts, fill=level)
            self.has_shadow = True

    def vface(self, x: float, z0: float, z1: float, y0: float, y1: float, look: int) -> None:
        """A vertical surface parallel to the road (facade, wall, fence, vehicle side)."""
        pts = self.band(x, y0, x, y1, z0, z1)
        if pts:
            self.poly(pts, look)

    def zface(self, xa: float, xb: float, y0: float, y1: float, z: float, look: int) -> None:
        """A vertical surface facing the camera (vehicle rear, sign, bridge front): a rectangle."""
        (ax, ay), (bx, by) = self.cam.px(xa, y1, z), self.cam.px(xb, y0, z)
        self.draw.rectangle((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)), fill=look)

    def add(self, key: float, fn: Callable[[], None]) -> None:
        """Queue an upright object; drawn in decreasing ``key`` (depth) order."""
        self.items.append((key, len(self.items), fn))

    def draw_queued(self) -> None:
        """Draw the queued upright objects far to near (ties in the order they were queued)."""
        for _, _, fn in sorted(self.items, key=lambda item: (-item[0], item[1])):
            fn()

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
        ox, oy = self.cam.px(x, y, z)
        s = self.cam.f / z
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
