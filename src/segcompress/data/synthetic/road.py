"""The ground plane: the road with its markings, repairs and shadows, and the roadside strips.

Why together: the roadside edges (shoulder, curb, sidewalk) decide where buildings, street
furniture and people stand, so the layout draws them before any upright object.
"""

from __future__ import annotations

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import earth, foliage, grey_ground, jitter, paint
from segcompress.data.synthetic.palette import C, tex_mix

__all__ = ["road", "roadside"]


def roadside(scene: Scene, side: float) -> float:
    """Shoulder, curb and sidewalk on one side; returns the offset where buildings start."""
    r = scene.rng
    k = scene.kind
    z0, z1 = scene.cam.z_near, scene.cam.z_far
    edge = side * scene.road_w / 2
    if r.random() < k["shoulder"]:
        width = r.uniform(0.4, 2.5)
        label = C["drivable fallback"]
        look = earth(scene, label) if r.random() < 0.6 else grey_ground(scene, label)
        scene.ground(edge, edge + side * width, z0, z1, look)
        edge += side * width
    if r.random() < k["sidewalk"]:
        has_curb = r.random() < 0.8
        height = r.uniform(0.1, 0.25) if has_curb else 0.0
        if has_curb:
            _curb(scene, side, edge, height, z0, z1)
            edge += side * 0.25
        width = r.uniform(1.2, 4.0)
        walk = grey_ground(scene, C["sidewalk"])
        if r.random() < 0.4:  # pavers: reddish or patterned
            scene.tex[walk] = tex_mix(0.05, 0.06, 0.03, stripe_h=r.uniform(0.05, 0.2))
            scene.base[walk] = jitter(r, (150, 110, 100), 25)
        scene.ground(edge, edge + side * width, z0, z1, walk, y=height)
        edge += side * width
    if r.random() < k["grass"]:
        far = edge + side * r.uniform(2.0, 30.0)
        za = r.uniform(z0, 30.0)
        scene.ground(
            edge + side * r.uniform(0, 2),
            far,
            za,
            za + r.uniform(10, 120),
            foliage(scene, shadowed=True),
        )
    if r.random() < 0.4:  # a patch of bare earth or rubble beyond the edge
        za = r.uniform(z0, 40.0)
        scene.ground(
            edge,
            edge + side * r.uniform(1.0, 8.0),
            za,
            za + r.uniform(5, 40),
            earth(scene, C["non-drivable fallback"]),
        )
    return edge + side * r.uniform(0.0, 1.5)


def _curb(scene: Scene, side: float, edge: float, height: float, z0: float, z1: float) -> None:
    """The curb's face and top, sometimes painted in alternating blocks near the camera."""
    r = scene.rng
    label = C["curb"]
    plain = paint(scene, label, ((150, 150, 145), (190, 185, 175)), 10.0)
    scene.vface(edge, z0, z1, 0.0, height, plain)
    scene.ground(edge, edge + side * 0.25, z0, z1, plain, y=height)
    if r.random() < 0.5:  # Indian curbs are often painted in alternating blocks
        other = paint(scene, label, ((20, 20, 20), (230, 200, 30), (235, 235, 235)), 10.0)
        step = r.uniform(0.8, 1.6)
        z = z0 + step * r.random()
        while z < min(z1, 30.0):
            scene.vface(edge, z, z + step, 0.0, height, other)
            scene.ground(edge, edge + side * 0.25, z, z + step, other, y=height)
            z += 2 * step


def road(scene: Scene, unpaved: bool) -> None:
    """The road surface, its patches, lane markings, zebra crossing and cast shadows."""
    r = scene.rng
    half = scene.road_w / 2
    z0, z1 = scene.cam.z_near, scene.cam.z_far
    label = C["drivable fallback"] if unpaved else C["road"]
    surface = earth(scene, label) if unpaved else grey_ground(scene, label)
    scene.ground(-half, half, z0, z1, surface)
    for _ in range(int(r.poisson(1.5))):  # repairs (road) and mud / gravel (drivable fallback)
        za = r.uniform(z0, 50.0)
        xa = r.uniform(-half, half)
        xb = xa + r.uniform(0.5, 4.0) * (1 if r.random() < 0.5 else -1)
        if r.random() < 0.5:
            look = grey_ground(scene, label)
        else:
            look = earth(scene, C["drivable fallback"])
        scene.ground(xa, max(-half, min(half, xb)), za, za + r.uniform(2, 15), look)
    if unpaved:
        return
    mark_rgb = (r.uniform(180, 245), r.uniform(170, 235), r.uniform(120, 220))
    mark = scene.look(C["road"], mark_rgb, tex=tex_mix(0.08, 0.25), shadowed=True)
    if r.random() < 0.75:
        dash, gap, width = r.uniform(1.5, 4.0), r.uniform(3.0, 9.0), r.uniform(0.1, 0.2)
        for i in range(1, scene.lanes):
            x = -half + i * scene.lane_w
            z = z0 + r.uniform(0, dash + gap)
            while z < 70.0:
                scene.ground(x - width / 2, x + width / 2, z, z + dash, mark)
                z += dash + gap
    if r.random() < 0.4:
        for x in (-half + 0.3, half - 0.3):
            scene.ground(x - 0.08, x + 0.08, z0, z1, mark)
    if r.random() < 0.1:  # zebra crossing
        zc = r.uniform(8.0, 25.0)
        x = -half
        while x < half:
            scene.ground(x, x + 0.5, zc, zc + 3.0, mark)
            x += 1.0
    for _ in range(int(r.poisson(0.8))):  # shadows of things outside the frame
        za = r.uniform(z0, 40.0)
        xa = r.uniform(-half - 3, half)
        scene.ground_shadow(xa, xa + r.uniform(1, 6), za, za + r.uniform(2, 20), scene.shadow_level)
