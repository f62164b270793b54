"""Vehicles: moving and parked traffic of the seven vehicle classes, and the ego vehicle's bonnet.

Why one paint pool: cars, trucks, buses, autorickshaws and the fallback class all draw from
``PAINT``, so a vehicle's class must come from its shape and size, not its colour.
"""

from __future__ import annotations

import math

import numpy as np

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import dark, earth, jitter, paint
from segcompress.data.synthetic.palette import PAINT, VIVID, VOID, C, Point, tex_mix
from segcompress.data.synthetic.people import person_parts

__all__ = ["bonnet", "traffic"]

_VEHICLES = ("car", "motorcycle", "autorickshaw", "truck", "bus", "bicycle", "vehicle fallback")
_VEHICLE_P = np.array([0.33, 0.24, 0.14, 0.07, 0.05, 0.08, 0.09])


def traffic(scene: Scene) -> None:
    """Queue moving vehicles in the lanes and parked ones on the edges."""
    r = scene.rng
    half = scene.road_w / 2
    two_way = r.random() < 0.6
    for _ in range(int(r.poisson(scene.kind["traffic"]))):
        kind = _VEHICLES[int(r.choice(len(_VEHICLES), p=_VEHICLE_P))]
        lane = int(r.integers(scene.lanes))
        x = -half + (lane + 0.5) * scene.lane_w + r.uniform(-0.8, 0.8)
        z = scene.cam.z_bottom * r.uniform(0.9, 1.4) + r.exponential(22.0)
        if z > 110.0:
            continue
        toward = two_way and lane >= scene.lanes / 2
        scene.add(z, lambda k=kind, x=x, z=z, t=toward: _vehicle(scene, k, x, z, t))
    for side in (-1.0, 1.0):  # parked two-wheelers and cars on the edge
        for _ in range(int(r.poisson(0.6))):
            kind = ("motorcycle", "bicycle", "car", "autorickshaw")[int(r.integers(4))]
            z = r.uniform(scene.cam.z_bottom * 1.2, 50.0)
            x = side * (half + r.uniform(0.0, 1.5))
            scene.add(z, lambda k=kind, x=x, z=z: _vehicle(scene, k, x, z, False, parked=True))


def _vehicle(
    scene: Scene, kind: str, x: float, z: float, toward: bool, parked: bool = False
) -> None:
    """One vehicle of ``kind``, built from boxes (two-wheelers from sprites)."""
    r = scene.rng
    label = C[kind]
    if kind in ("motorcycle", "bicycle"):
        _two_wheeler(scene, kind, x, z, parked)
        return
    coat = paint(scene, label, PAINT, z, texture=0.05)
    scene.tex[coat] = tex_mix(0.02, 0.03, ramp=r.uniform(-0.3, 0.1))
    tyre = dark(scene, label, z, (15, 40))
    glass = dark(scene, label, z, (30, 90))
    w = {"car": 1.75, "truck": 2.4, "bus": 2.5, "autorickshaw": 1.35, "vehicle fallback": 1.9}[
        kind
    ] * r.uniform(0.9, 1.1)
    scene.ground_shadow(x - w * 0.6, x + w * 0.6, z - 0.3, z + 3.0, scene.shadow_level)
    if kind == "car":
        length = r.uniform(3.6, 4.8)
        _box(scene, x, z, w, length, 0.3, 0.9, coat, tyre, wheels=0.32)
        cab = paint(scene, label, (scene.base[coat],), z, 0.02)
        _box(
            scene,
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
            light = paint(scene, label, ((220, 40, 40),) if not toward else ((240, 240, 220),), z)
            scene.zface(x + u * w, x + (u + 0.1) * w, 0.6, 0.75, z, light)
    elif kind == "truck":
        cargo_len = r.uniform(4.5, 7.0)
        cargo_top = r.uniform(2.8, 3.8)
        cargo = paint(scene, label, PAINT + VIVID, z, 0.08)
        scene.tex[cargo] = tex_mix(
            0.03, 0.08, stripe_h=r.uniform(0, 0.2), stripe_v=r.uniform(0, 0.2)
        )
        if toward:
            _box(scene, x, z + 2.1, w, cargo_len, 0.9, cargo_top, cargo, tyre, wheels=0.5)
            _box(scene, x, z, w * 0.95, 2.0, 0.7, 2.8, coat, tyre, window=glass, wheels=0.5)
        else:
            _box(scene, x, z + cargo_len, w * 0.95, 2.0, 0.7, 2.8, coat, tyre, wheels=0.5)
            _box(scene, x, z, w, cargo_len, 0.9, cargo_top, cargo, tyre, wheels=0.5)
            scene.zface(x - w * 0.45, x + w * 0.45, 0.0, 0.9, z + 0.2, tyre)
    elif kind == "bus":
        length = r.uniform(9.0, 12.0)
        _box(
            scene,
            x,
            z,
            w,
            length,
            0.35,
            r.uniform(3.0, 3.4),
            coat,
            tyre,
            window=glass,
            wheels=0.5,
            side_windows=glass,
        )
    elif kind == "autorickshaw":
        body = paint(scene, label, ((40, 140, 60), (230, 200, 40), (30, 30, 30), *PAINT[:4]), z)
        hood = paint(scene, label, ((30, 30, 30), (230, 200, 40), (40, 120, 60)), z)
        length = r.uniform(2.4, 2.8)
        _box(scene, x, z, w, length, 0.25, 0.85, body, tyre, wheels=0.22)
        _box(scene, x, z + 0.2, w * 0.95, length - 0.5, 0.85, 1.75, hood, glass, window=glass)
    else:  # vehicle fallback: tractor, hand cart or tempo
        style = int(r.integers(3))
        if style == 0:
            _box(scene, x, z + 1.0, w * 0.6, 2.2, 0.6, 1.5, coat, tyre, wheels=0.35)
            for sx in (-1, 1):
                scene.zface(x + sx * w * 0.5 - 0.25, x + sx * w * 0.5 + 0.25, 0.0, 1.5, z, tyre)
            _box(scene, x, z + 0.3, 0.9, 0.8, 1.2, 1.9, coat, tyre)
        elif style == 1:
            load = earth(scene, label, z)
            scene.shadowed[load] = False
            _box(
                scene,
                x,
                z,
                w,
                2.5,
                0.6,
                0.9,
                paint(scene, label, ((120, 90, 60),), z),
                tyre,
                wheels=0.6,
            )
            _box(scene, x, z + 0.2, w * 0.9, 2.0, 0.9, r.uniform(1.6, 2.4), load, tyre)
        else:
            _box(
                scene, x, z, w, 3.2, 0.4, r.uniform(1.8, 2.3), coat, tyre, window=glass, wheels=0.3
            )


def _box(
    scene: Scene,
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
    if z <= scene.cam.z_near:
        return
    side_look = scene.look(
        scene.labels[look],
        [c * 0.82 for c in scene.base[look]],
        delta=scene.delta[look],
        tex=scene.tex[look],
    )
    rel = x - scene.cam.offset + scene.cam.curve * z * z
    xs = x - w / 2 if rel - w / 2 > 0 else (x + w / 2 if rel + w / 2 < 0 else None)
    z1 = z + length
    if xs is not None:
        scene.vface(xs, z, z1, y0, y1, side_look)
        if side_windows is not None:
            scene.vface(
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
                    scene.cam.px(xs, wheels + wheels * math.sin(t), zc + wheels * math.cos(t))
                    for t in np.linspace(0, 2 * math.pi, 9)[:-1]
                ]
                scene.poly(pts, tyre)
    if y1 < scene.cam.hc:
        top = scene.look(
            scene.labels[look],
            [min(255.0, c * 1.12) for c in scene.base[look]],
            tex=scene.tex[look],
        )
        scene.ground(x - w / 2, x + w / 2, z, z1, top, y=y1)
    if wheels > 0:
        for sx in (-1, 1):
            xa = x + sx * (w / 2 - 0.05)
            scene.zface(xa, xa - sx * 0.25, 0.0, min(y0 + 0.15, 2 * wheels), z + 0.05, tyre)
    scene.zface(x - w / 2, x + w / 2, y0, y1, z, look)
    if window is not None:
        hgt = y1 - y0
        scene.zface(x - w * 0.4, x + w * 0.4, y0 + hgt * 0.5, y0 + hgt * 0.88, z, window)


def _two_wheeler(scene: Scene, kind: str, x: float, z: float, parked: bool) -> None:
    """A motorcycle or bicycle, from behind or the side, usually with riders."""
    r = scene.rng
    label = C[kind]
    frame = paint(scene, label, PAINT[:6] + PAINT[8:], z)
    tyre = dark(scene, label, z, (10, 40))
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
    scene.sprite(parts, x, z, squeeze=squeeze if side_view else 1.0)
    if parked and r.random() < 0.8:
        return
    if not parked or r.random() < 0.5:
        riders = 1 + int(kind == "motorcycle" and r.random() < 0.3)
        for i in range(riders):
            scene.sprite(
                person_parts(scene, C["rider"], z, seated=True, side=side_view),
                x,
                z - 0.05 * i,
                squeeze=squeeze if side_view else 1.0,
                y=seat - 0.1 * i,
            )


def _ring(cx: float, cy: float, radius: float, n: int = 10) -> tuple[Point, ...]:
    """A closed polyline approximating a circle (wheels drawn as outlines)."""
    return tuple(
        (cx + radius * math.cos(2 * math.pi * i / n), cy + radius * math.sin(2 * math.pi * i / n))
        for i in range(n + 1)
    )


def bonnet(scene: Scene) -> None:
    """The ego vehicle's bonnet: void in IDD, dark paint with a reflection in the image."""
    r = scene.rng
    hb = scene.h * r.uniform(0.06, 0.14)
    cx = scene.w * r.uniform(0.4, 0.6)
    g = r.uniform(20, 120)
    look = scene.look(
        VOID,
        jitter(r, (g, g, g), 15),
        delta=(20, 20, 20),
        tex=tex_mix(0.01, 0.05, 0.2, ramp=r.uniform(-0.5, 0.5)),
    )
    pts = [(-1.0, scene.h + 1.0)]
    for i in range(9):
        x = -1.0 + (scene.w + 2.0) * i / 8
        pts.append((x, scene.h - hb + hb * 0.7 * ((x - cx) / (scene.w / 1.6)) ** 2))
    pts.append((scene.w + 1.0, scene.h + 1.0))
    scene.poly(pts, look)
