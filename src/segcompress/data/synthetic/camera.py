"""The pinhole camera of a frame: where a point beside a (possibly curving) road lands.

Why apart from the canvas: projection is pure geometry, drawn once per frame; every part of the
scene places its polygons through :meth:`Camera.px` and samples long edges with :meth:`Camera.zs`.
"""

from __future__ import annotations

import math

import numpy as np

from segcompress.data.synthetic.palette import Point

__all__ = ["Camera"]


class Camera:
    """Focal length, horizon, vanishing point, height and road curvature of one frame."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        """Draw the camera of one frame (these draws come right after the scene kind)."""
        r = rng
        self.f = width * r.uniform(0.55, 0.85)
        self.yh = height * r.uniform(0.36, 0.5)
        self.xv = width * r.uniform(0.42, 0.58)
        self.hc = r.uniform(1.2, 1.8)
        self.curve = 0.0 if r.random() < 0.5 else r.uniform(-1.2e-3, 1.2e-3)
        self.z_bottom = self.f * self.hc / (height - self.yh)
        self.z_near = 0.5 * self.z_bottom
        self.z_far = r.uniform(90.0, 180.0)
        self.offset = 0.0
        """Lateral position on the road; the layout sets it once the road width is known."""

    def px(self, x: float, y: float, z: float) -> Point:
        """World (lateral x in road coordinates, height y, depth z in metres) to pixels."""
        return (
            self.xv + self.f * (x - self.offset + self.curve * z * z) / z,
            self.yh + self.f * (self.hc - y) / z,
        )

    def zs(self, z0: float, z1: float) -> list[float]:
        """Depth samples along an edge: two suffice on a straight road, more bend with a curve."""
        if self.curve == 0.0:
            return [z0, z1]
        n = min(12, 2 + int(math.log(z1 / z0) / 0.25))
        return [z0 * (z1 / z0) ** (i / (n - 1)) for i in range(n)]
