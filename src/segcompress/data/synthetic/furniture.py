"""Street furniture on the kerb: street lights, traffic signs, traffic lights and billboards.

Why its own part: these are the thin, rare classes (pole, sign, light) that a student model
finds hardest; they are queued by depth like every upright object.
"""

from __future__ import annotations

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import paint
from segcompress.data.synthetic.palette import CLOTHES, VIVID, C, tex_mix

__all__ = [
    "street_furniture",
]


def street_furniture(scene: Scene, side: float, edge: float) -> None:
    """Street lights, signs, traffic lights and billboards along one side."""
    r = scene.rng
    curb_x = edge - side * r.uniform(0.3, 1.0)
    if r.random() < 0.5:
        step = r.uniform(20.0, 45.0)
        z = scene.cam.z_bottom * 2.0 + r.uniform(0, step)
        while z < 110.0:
            scene.add(z, lambda z=z: _street_light(scene, side, curb_x, z))
            z += step
    for _ in range(int(r.poisson(0.9))):
        z = r.uniform(scene.cam.z_bottom * 1.5, 60.0)
        scene.add(z, lambda z=z: _traffic_sign(scene, curb_x + side * r.uniform(0, 1), z))
    if r.random() < 0.2:
        z = r.uniform(scene.cam.z_bottom * 1.8, 50.0)
        scene.add(z, lambda z=z: _traffic_light(scene, side, curb_x, z))
    if r.random() < scene.kind["billboard"]:
        z = r.uniform(15.0, 80.0)
        x = edge + side * r.uniform(1.0, 10.0)
        scene.add(z - 1.0, lambda z=z, x=x: _billboard(scene, x, z))


def _pole_look(scene: Scene, z: float) -> int:
    """Grey, dark or green pole paint, shared by lights, signs and billboards."""
    return paint(
        scene, C["pole"], ((150, 150, 150), (90, 90, 90), (200, 200, 195), (60, 70, 60)), z
    )


def _street_light(scene: Scene, side: float, x: float, z: float) -> None:
    """A tall pole with an arm over the road, sometimes carrying a sign."""
    r = scene.rng
    height = r.uniform(6.0, 10.0)
    look = _pole_look(scene, z)
    w = r.uniform(0.05, 0.1)
    scene.zface(x - w, x + w, 0.0, height, z, look)
    arm = r.uniform(1.0, 3.0)
    a, b = scene.cam.px(x, height, z), scene.cam.px(x - side * arm, height - 0.3, z)
    scene.draw.line([a, b], fill=look, width=max(1, round(0.1 * scene.cam.f / z)))
    if r.random() < 0.3:
        _sign_plate(scene, x, z, r.uniform(2.2, 3.2))


def _traffic_sign(scene: Scene, x: float, z: float) -> None:
    """A thin pole with a sign plate on top."""
    r = scene.rng
    height = r.uniform(2.0, 3.0)
    w = 0.04
    scene.zface(x - w, x + w, 0.0, height, z, _pole_look(scene, z))
    _sign_plate(scene, x, z, height)


def _sign_plate(scene: Scene, x: float, z: float, y: float) -> None:
    """A round, triangular or rectangular plate with an inner symbol."""
    r = scene.rng
    label = C["traffic sign"]
    size = r.uniform(0.5, 0.9)
    ring = paint(scene, label, ((200, 30, 30), (30, 60, 160), (230, 190, 30), (30, 120, 60)), z)
    inner = paint(scene, label, ((235, 235, 230), (30, 60, 160), (20, 20, 20)), z)
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
    scene.sprite(parts, x, z, y=y + size / 2)


def _traffic_light(scene: Scene, side: float, x: float, z: float) -> None:
    """A pole with a three-lamp head, sometimes a second head on a mast arm."""
    r = scene.rng
    label = C["traffic light"]
    pole = _pole_look(scene, z)
    height = r.uniform(3.0, 5.5)
    w = 0.07
    scene.zface(x - w, x + w, 0.0, height, z, pole)
    housing = paint(scene, label, ((30, 30, 30), (200, 170, 30), (60, 60, 60)), z)
    lamps = [paint(scene, label, (c,), z) for c in ((230, 60, 40), (240, 180, 40), (60, 220, 120))]
    spots = [x]
    if r.random() < 0.5:  # a mast arm over the road with a second head
        reach = r.uniform(2.0, 5.0)
        a, b = scene.cam.px(x, height, z), scene.cam.px(x - side * reach, height, z)
        scene.draw.line([a, b], fill=pole, width=max(1, round(0.1 * scene.cam.f / z)))
        spots.append(x - side * reach)
    for sx in spots:
        parts = [("p", ((-0.17, -0.95), (0.17, -0.95), (0.17, 0.0), (-0.17, 0.0)), housing)]
        parts += [("e", (0, -0.16 - 0.3 * i, 0.1, 0.1), lamps[i]) for i in range(3)]
        scene.sprite(parts, sx, z, y=height + 0.2)


def _billboard(scene: Scene, x: float, z: float) -> None:
    """A large board on two poles with pictures and text blocks on it."""
    r = scene.rng
    width, height = r.uniform(3.0, 9.0), r.uniform(1.8, 4.5)
    y0 = r.uniform(2.5, 7.0)
    pole = _pole_look(scene, z)
    for px in (x - width / 3, x + width / 3):
        scene.zface(px - 0.08, px + 0.08, 0.0, y0, z, pole)
    board = paint(scene, C["billboard"], VIVID, z)
    scene.tex[board] = tex_mix(0.03, r.uniform(0.0, 0.2), r.uniform(0, 0.2), r.uniform(0, 0.3))
    scene.zface(x - width / 2, x + width / 2, y0, y0 + height, z, board)
    for _ in range(int(r.integers(1, 4))):  # pictures and text blocks
        inner = paint(scene, C["billboard"], VIVID + CLOTHES, z)
        u0, v0 = r.uniform(-0.45, 0.2), r.uniform(0.05, 0.6)
        scene.zface(
            x + u0 * width,
            x + (u0 + r.uniform(0.1, 0.4)) * width,
            y0 + v0 * height,
            y0 + (v0 + r.uniform(0.1, 0.35)) * height,
            z,
            inner,
        )
