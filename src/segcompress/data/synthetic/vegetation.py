"""Vegetation standing beside the road: hedges and trees (ground grass is part of the roadside).

Why apart: walls grow hedges, hedges grow trees and the layout plants trees of its own, so
these are shared by several parts.
"""

from __future__ import annotations

import math

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import foliage, jitter
from segcompress.data.synthetic.palette import C, tex_mix

__all__ = ["hedge", "tree"]


def hedge(scene: Scene, side: float, x: float, z0: float, z1: float, low: float = 0.0) -> None:
    """A bumpy band of foliage along the road, sometimes with a tree behind it."""
    r = scene.rng
    height = low + r.uniform(1.5, 6.0)
    zs = scene.cam.zs(max(z0, scene.cam.z_near), z1)
    pts = [scene.cam.px(x, 0, z) for z in zs]
    bumps = max(3, int((z1 - z0) / 2))
    for i in range(bumps, -1, -1):
        z = z0 + (z1 - z0) * i / bumps
        if z > scene.cam.z_near:
            pts.append(scene.cam.px(x, height * r.uniform(0.7, 1.3), z))
    scene.poly(pts, foliage(scene, z=max(z0, scene.cam.z_bottom)))
    if r.random() < 0.5:
        tree(
            scene, x + side * r.uniform(0, 3), r.uniform(max(z0, scene.cam.z_bottom * 1.5), z1 + 1)
        )


def tree(scene: Scene, x: float, z: float) -> None:
    """A trunk with one to three leafy blobs and, often, a shadow on the ground."""
    r = scene.rng
    trunk_h = r.uniform(1.5, 4.0)
    radius = r.uniform(2.0, 5.5)
    tw = r.uniform(0.15, 0.3)
    bark = scene.look(C["vegetation"], jitter(r, (80, 65, 50), 15), tex=tex_mix(0.08, 0.1), z=z)
    scene.zface(x - tw, x + tw, 0.0, trunk_h + radius * 0.5, z, bark)
    cx, cy = scene.cam.px(x, trunk_h + radius * 0.8, z)
    s = scene.cam.f / z
    for _ in range(int(r.integers(1, 4))):
        n = 9
        rad = radius * s * r.uniform(0.6, 1.0)
        ox, oy = cx + r.uniform(-0.5, 0.5) * rad, cy + r.uniform(-0.4, 0.3) * rad
        pts = []
        for i in range(n):
            t = 2 * math.pi * i / n
            q = rad * r.uniform(0.7, 1.15)
            pts.append((ox + q * math.cos(t), oy + q * math.sin(t) * 0.85))
        scene.poly(pts, foliage(scene, z=z))
    if r.random() < 0.6:
        scene.ground_shadow(
            x - radius, x + radius, z - radius * 0.5, z + radius * 0.5, scene.shadow_level
        )
