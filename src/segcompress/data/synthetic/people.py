"""People: pedestrians on the road and its edges, and the figures that ride two-wheelers.

Why one figure for both: riders and pedestrians share clothes, skin and proportions, and differ
only by pose and class, so a rider is told apart by what it sits on.
"""

from __future__ import annotations

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import paint
from segcompress.data.synthetic.palette import CLOTHES, SKIN, VIVID, C

__all__ = ["people", "person_parts"]


def people(scene: Scene, edges: dict[float, float]) -> None:
    """Queue pedestrians, alone or in pairs, on the road or beside its edges."""
    r = scene.rng
    for _ in range(int(r.poisson(scene.kind["people"]))):
        side = -1.0 if r.random() < 0.5 else 1.0
        on_road = r.random() < 0.25
        half = scene.road_w / 2
        x = r.uniform(-half, half) if on_road else edges[side] - side * r.uniform(0.0, 3.0)
        z = scene.cam.z_bottom * r.uniform(1.0, 1.5) + r.exponential(18.0)
        if z > 90.0:
            continue
        n = 1 + int(r.random() < 0.3)
        for i in range(n):
            zi, xi = z + 0.6 * i, x + r.uniform(-0.8, 0.8) * i
            scene.add(zi, lambda zi=zi, xi=xi: _pedestrian(scene, xi, zi))


def _pedestrian(scene: Scene, x: float, z: float) -> None:
    """A standing person facing the camera or seen from the side."""
    side = scene.rng.random() < 0.4
    parts = person_parts(scene, C["person"], z, seated=False, side=side)
    scene.sprite(parts, x, z, squeeze=1.0 if not side else (1 if scene.rng.random() < 0.5 else -1))


def person_parts(scene: Scene, label: int, z: float, *, seated: bool, side: bool) -> list[tuple]:
    """A figure in metres with its feet (or seat) at the origin."""
    r = scene.rng
    shirt = paint(scene, label, CLOTHES, z, 0.08)
    pants = paint(scene, label, CLOTHES, z, 0.08)
    skin = paint(scene, label, SKIN, z)
    hair = paint(scene, label, ((20, 20, 20), (40, 35, 30), (200, 200, 200), *VIVID[:3]), z)
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
