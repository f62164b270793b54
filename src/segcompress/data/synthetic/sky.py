"""The sky and the skyline: the backdrop every other part is drawn over.

Why first: the sky's haze colour is what every later look fades toward with distance.
"""

from __future__ import annotations

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import foliage, jitter, pick
from segcompress.data.synthetic.palette import WALL_PAINT, C, tex_mix

__all__ = ["sky", "skyline"]


def sky(scene: Scene) -> None:
    """Fill the frame with sky and set the haze colour distant looks fade toward."""
    r = scene.rng
    blue = (r.uniform(80, 150), r.uniform(130, 190), r.uniform(185, 245))
    hazy = (r.uniform(175, 235),) * 3
    a = r.random()
    base = tuple(b * (1 - a) + h * a for b, h in zip(blue, hazy, strict=True))
    scene.haze = jitter(r, tuple(min(255.0, c + 25) for c in base), 8)
    look = scene.look(
        C["sky"],
        base,
        delta=(r.uniform(0, 40),) * 3,
        tex=tex_mix(0.01, 0.0, r.uniform(0.02, 0.2), ramp=r.uniform(0.05, 0.35)),
    )
    scene.draw.rectangle((0, 0, scene.w, scene.h), fill=look)


def skyline(scene: Scene) -> None:
    """Distant buildings and tree lines at the horizon, faded by haze."""
    r = scene.rng
    z = r.uniform(150.0, 400.0)
    y0 = scene.cam.yh + scene.cam.f * scene.cam.hc / z + 1
    s = scene.cam.f / z
    p_build = 0.15 + 0.6 * scene.kind["building"]
    x = -r.uniform(0, 0.1) * scene.w
    while x < scene.w:
        seg = r.uniform(0.03, 0.18) * scene.w
        u = r.random()
        if u < p_build:
            top = y0 - s * r.uniform(5, 40)
            look = scene.look(C["building"], pick(r, WALL_PAINT, 20), tex=tex_mix(0.03, 0.05), z=z)
            scene.draw.rectangle((x, top, x + seg, y0), fill=look)
        elif u < p_build + 0.55:
            n = max(3, int(seg / 6))
            pts = [(x, y0)]
            for i in range(n + 1):
                pts.append((x + seg * i / n, y0 - s * r.uniform(6, 25)))
            pts.append((x + seg, y0))
            scene.poly(pts, foliage(scene, z=z))
        x += seg
