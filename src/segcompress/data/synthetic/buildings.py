"""What lines each side of the road: buildings with windows, shop signs and shutters, walls and
fences, segment by segment, plus the trees between them.
"""

from __future__ import annotations

import numpy as np

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.materials import dark, paint
from segcompress.data.synthetic.palette import VIVID, WALL_PAINT, C, tex_mix
from segcompress.data.synthetic.vegetation import hedge, tree

__all__ = ["structures"]


def structures(scene: Scene, side: float, edge: float) -> None:
    """Buildings, walls, fences and hedges lining one side of the road, segment by segment."""
    r = scene.rng
    k = scene.kind
    kinds = ("building", "wall", "fence", "vegetation")
    p = np.array([k["building"], k["wall"], k["fence"], 0.0])
    p[3] = max(0.05, 1.0 - p[:3].sum())
    p = p / p.sum()
    z = scene.cam.z_near
    z_end = r.uniform(60.0, 160.0)
    while z < z_end:
        what = kinds[int(r.choice(4, p=p))]
        length = r.uniform(6.0, 28.0)
        x = edge + side * r.uniform(0.0, 2.0)
        z0, z1 = z, z + length
        if what == "building":
            scene.add(z1, lambda x=x, z0=z0, z1=z1: _building(scene, side, x, z0, z1))
        elif what == "wall":
            scene.add(z1, lambda x=x, z0=z0, z1=z1: _wall(scene, side, x, z0, z1))
        elif what == "fence":
            scene.add(z1, lambda x=x, z0=z0, z1=z1: _fence(scene, x, z0, z1))
        else:
            scene.add(z1, lambda x=x, z0=z0, z1=z1: hedge(scene, side, x, z0, z1))
        z = z1 + (r.uniform(0.0, 4.0) if r.random() < 0.5 else 0.0)
    for _ in range(int(r.poisson(k["trees"] * 0.8))):
        zt = r.uniform(scene.cam.z_bottom * 1.5, 90.0)
        xt = edge + side * r.uniform(-0.5, 3.0)
        scene.add(zt, lambda xt=xt, zt=zt: tree(scene, xt, zt))


def _building(scene: Scene, side: float, x: float, z0: float, z1: float) -> None:
    """A facade with its end wall, windows, shop sign, shutters and shadow."""
    r = scene.rng
    height = r.uniform(3.5, 9.0) if r.random() < 0.7 else r.uniform(9.0, 22.0)
    zm = max(z0, scene.cam.z_bottom)
    facade = paint(scene, C["building"], WALL_PAINT, zm, texture=0.08)
    scene.tex[facade] = tex_mix(
        r.uniform(0.01, 0.06),
        r.uniform(0.02, 0.12),
        r.uniform(0.0, 0.08),
        stripe_h=r.uniform(0.0, 0.06),
        ramp=r.uniform(-0.2, 0.1),
    )
    scene.vface(x, z0, z1, 0.0, height, facade)
    if z0 > scene.cam.z_bottom:  # the end wall, turned away from the sun or toward it
        end = scene.look(
            C["building"],
            [c * r.uniform(0.6, 0.95) for c in scene.base[facade]],
            tex=scene.tex[facade],
        )
        depth = r.uniform(4.0, 12.0)
        scene.poly(
            [
                scene.cam.px(x, 0, z0),
                scene.cam.px(x + side * depth, 0, z0),
                scene.cam.px(x + side * depth, height, z0),
                scene.cam.px(x, height, z0),
            ],
            end,
        )
    glass = dark(scene, C["building"], zm, (25, 110))
    floors = int(height / 3.0)
    n_cols = int((z1 - z0) / 3.5)
    if floors >= 1 and n_cols >= 1 and (z1 - z0) * scene.cam.f / zm > 12:
        zw = (z1 - z0) / n_cols
        rows = range(1 if r.random() < 0.6 else 0, floors)
        cols = [z0 + (j + 0.25) * zw for j in range(n_cols) if z0 + j * zw > scene.cam.z_near]
        for i in rows[:6]:
            for zc in cols[:8]:
                scene.vface(x, zc, zc + zw * 0.5, i * 3.0 + 0.9, i * 3.0 + 2.2, glass)
    if r.random() < 0.5 * scene.kind["billboard"] + 0.1:  # shop sign: a billboard in IDD terms
        _signboard(
            scene,
            x,
            z0 + (z1 - z0) * r.uniform(0, 0.3),
            z1 - (z1 - z0) * r.uniform(0, 0.3),
            min(height - 0.6, r.uniform(2.4, 3.2)),
        )
    if height < 12 and r.random() < 0.4:  # shutters of the ground floor
        shutter = paint(scene, C["building"], ((120, 120, 125), (90, 100, 110)), zm)
        scene.tex[shutter] = tex_mix(0.02, stripe_h=0.25)
        scene.vface(x, z0 + 0.5, z1 - 0.5, 0.0, 2.2, shutter)
    if r.random() < 0.5:
        scene.ground_shadow(x, x - side * r.uniform(0.3, 1.0) * height, z0, z1, scene.shadow_level)


def _signboard(scene: Scene, x: float, z0: float, z1: float, y: float) -> None:
    """A shop sign on a facade: IDD labels it billboard."""
    r = scene.rng
    look = paint(scene, C["billboard"], VIVID, max(z0, scene.cam.z_bottom))
    scene.tex[look] = tex_mix(0.03, 0.05, stripe_h=r.uniform(0.1, 0.4), stripe_v=r.uniform(0, 0.3))
    scene.vface(x, z0, z1, y, y + r.uniform(0.6, 1.4), look)


def _wall(scene: Scene, side: float, x: float, z0: float, z1: float) -> None:
    """A boundary wall, sometimes painted with an ad or topped by a fence or hedge."""
    r = scene.rng
    height = r.uniform(1.0, 3.0)
    zm = max(z0, scene.cam.z_bottom)
    look = paint(scene, C["wall"], WALL_PAINT, zm, texture=0.1)
    scene.tex[look] = tex_mix(
        r.uniform(0.02, 0.08),
        r.uniform(0.03, 0.15),
        r.uniform(0.0, 0.1),
        stripe_h=r.uniform(0.0, 0.15),
        ramp=r.uniform(-0.1, 0.1),
    )
    scene.vface(x, z0, z1, 0.0, height, look)
    if r.random() < 0.3:  # painted advertisement on the wall stays a wall
        ad = paint(scene, C["wall"], VIVID, zm)
        za = z0 + (z1 - z0) * r.uniform(0, 0.5)
        scene.vface(x, za, za + (z1 - z0) * 0.4, 0.3, height - 0.2, ad)
    if r.random() < 0.3:
        _fence(scene, x, z0, z1, y0=height)
    elif r.random() < 0.3:
        hedge(scene, side, x + side * 1.0, z0, z1, low=height)


def _fence(scene: Scene, x: float, z0: float, z1: float, y0: float = 0.0) -> None:
    """Metal railings: vertical stripes on a band parallel to the road."""
    r = scene.rng
    label = C["fence"]
    zm = max(z0, scene.cam.z_bottom)
    metal = paint(scene, label, ((60, 60, 60), (110, 120, 110), (150, 150, 140), (40, 80, 60)), zm)
    scene.tex[metal] = tex_mix(0.04, 0.05, stripe_v=r.uniform(0.2, 0.6), stripe_h=r.uniform(0, 0.2))
    scene.vface(x, z0, z1, y0, y0 + r.uniform(0.9, 2.0), metal)
