"""Barriers and overhead structures: medians, barricades and drums, guard rails and bridges.

Why together: they are the man-made obstacles on and over the road (IDD's
obs-str-bar-fallback, guard rail and bridge classes), placed relative to the lanes.
"""

from __future__ import annotations

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import paint
from segcompress.data.synthetic.palette import C, tex_mix

__all__ = [
    "barriers",
    "bridge",
]


def barriers(scene: Scene) -> None:
    """Dividers, barricades and drums (obs-str-bar-fallback) and guard rails."""
    r = scene.rng
    label = C["obs-str-bar-fallback"]
    if scene.lanes >= 2 and r.random() < 0.3:
        x = -scene.road_w / 2 + scene.lane_w * int(r.integers(1, scene.lanes))
        height, w = r.uniform(0.3, 1.0), r.uniform(0.2, 0.4)
        look = paint(scene, label, ((200, 200, 195), (230, 200, 40), (120, 120, 120)), 20.0)
        scene.tex[look] = tex_mix(0.04, 0.06, stripe_v=r.uniform(0, 0.5))
        z = r.uniform(scene.cam.z_near, 30.0)
        z_end = r.uniform(40.0, 120.0)
        while z < z_end:
            z1 = z * 1.4 + 2.0
            scene.add(z1, lambda z=z, z1=z1: _median_block(scene, x, w, height, z, z1, look))
            z = z1
    if r.random() < 0.45 * (1 if scene.kind["traffic"] > 3 else 0.5):
        _barricades(scene, label)
    if r.random() < scene.kind["guard"]:
        side = -1.0 if r.random() < 0.5 else 1.0
        _guard_rails(scene, side * (scene.road_w / 2 + r.uniform(0.3, 1.5)))


def _median_block(
    scene: Scene, x: float, w: float, height: float, z0: float, z1: float, look: int
) -> None:
    """One block of a lane divider, its lit top a shade brighter than its side."""
    top = scene.look(scene.labels[look], [c * 1.1 for c in scene.base[look]], tex=scene.tex[look])
    near_side = x - w if scene.cam.px(x, 0, z0)[0] > scene.cam.xv else x + w
    scene.vface(near_side, z0, z1, 0.0, height, look)
    scene.ground(x - w, x + w, z0, z1, top, y=height)


def _barricades(scene: Scene, label: int) -> None:
    """Queue one to three barricades standing on the road."""
    r = scene.rng
    for _ in range(int(r.integers(1, 4))):
        z = r.uniform(scene.cam.z_bottom * 1.2, 45.0)
        x = r.uniform(-scene.road_w / 2, scene.road_w / 2)
        scene.add(z, lambda z=z, x=x: _barricade(scene, x, z, label))


def _barricade(scene: Scene, x: float, z: float, label: int) -> None:
    """A striped police barricade on legs, or a drum / jersey block."""
    r = scene.rng
    a = paint(scene, label, ((230, 200, 30), (220, 40, 40), (230, 230, 225)), z)
    b = paint(scene, label, ((20, 20, 20), (240, 240, 235)), z)
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
    scene.sprite(parts, x, z)


def _guard_rails(scene: Scene, x: float) -> None:
    """Queue a guard rail in segments, so that nearer objects can cover its far end."""
    r = scene.rng
    z = r.uniform(scene.cam.z_near, 20.0)
    z_end = r.uniform(40.0, 130.0)
    look = paint(scene, C["guard rail"], ((170, 175, 180), (200, 200, 200), (130, 135, 140)), 20)
    scene.tex[look] = tex_mix(0.03, 0.04, stripe_h=r.uniform(0.1, 0.3))
    while z < z_end:
        z1 = z * 1.35 + 2.0
        scene.add(z1, lambda z=z, z1=z1: _rail_segment(scene, x, z, z1, look))
        z = z1


def _rail_segment(scene: Scene, x: float, z0: float, z1: float, look: int) -> None:
    """A stretch of rail with a post every four metres."""
    scene.vface(x, z0, z1, 0.45, 0.8, look)
    z = z0
    while z < z1:
        if z > scene.cam.z_near:
            a, b = scene.cam.px(x, 0.0, z), scene.cam.px(x, 0.8, z)
            scene.draw.line([a, b], fill=look, width=max(1, round(0.12 * scene.cam.f / z)))
        z += 4.0


def bridge(scene: Scene) -> None:
    """An overpass across the whole frame on two piers, queued at its depth."""
    r = scene.rng
    z = r.uniform(25.0, 90.0)
    label = C["bridge"]
    y0 = r.uniform(5.5, 8.0)
    thick = r.uniform(1.2, 2.5)
    concrete = paint(scene, label, ((170, 170, 165), (140, 135, 130), (200, 195, 185)), z, 0.1)
    scene.tex[concrete] = tex_mix(0.04, 0.1, 0.08, stripe_h=r.uniform(0, 0.15))

    def draw() -> None:
        # half the frame width in metres at this depth, plus the curve and camera offsets
        """Deck, parapet and piers; the piers' offsets are drawn only when it is painted."""
        span = (
            z * scene.w / scene.cam.f + abs(scene.cam.curve) * z * z + abs(scene.cam.offset) + 5.0
        )
        scene.zface(-span, span, y0, y0 + thick, z, concrete)
        rail = scene.look(label, [c * 0.8 for c in scene.base[concrete]], tex=tex_mix(0.03), z=z)
        scene.zface(-span, span, y0 + thick, y0 + thick + 0.8, z + 0.5, rail)
        for side in (-1.0, 1.0):
            x = side * (scene.road_w / 2 + r.uniform(0.5, 3.0))
            w = r.uniform(0.5, 1.0)
            scene.zface(x - w, x + w, 0.0, y0, z + 0.5, concrete)

    scene.add(z, draw)
