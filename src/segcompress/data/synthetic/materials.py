"""Materials: colour draws that several parts share (ground tones, foliage, paint, dark parts).

Why shared: drawing road, sidewalk and drivable fallback from the same grey-brown tones (and all
vehicles from one paint pool) keeps colour from giving the class away. Each call draws from the
scene's generator and registers one look.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.palette import C, Color, tex_mix

__all__ = ["dark", "earth", "foliage", "grey_ground", "jitter", "paint", "pick"]


def jitter(rng: np.random.Generator, color: Sequence[float], spread: float) -> Color:
    """``color`` with normal noise per channel, clipped to 0..255."""
    n = rng.normal(0.0, spread, 3)
    return (
        min(255.0, max(0.0, color[0] + n[0])),
        min(255.0, max(0.0, color[1] + n[1])),
        min(255.0, max(0.0, color[2] + n[2])),
    )


def pick(rng: np.random.Generator, pool: Sequence[Color], spread: float = 12.0) -> Color:
    """One colour of ``pool``, jittered."""
    return jitter(rng, pool[int(rng.integers(len(pool)))], spread)


def grey_ground(scene: Scene, label: int, z: float | None = None) -> int:
    """Asphalt-, gravel- or paver-like tones, shared by road, sidewalk and drivable fallback."""
    r = scene.rng
    g = r.uniform(70, 165)
    warm = r.uniform(-6, 18)
    base = (g + warm, g + warm * 0.5, g - warm * 0.3)
    return scene.look(
        label,
        jitter(r, base, 5),
        delta=jitter(r, (8, 8, 6), 6),
        tex=tex_mix(r.uniform(0.02, 0.09), r.uniform(0.02, 0.12), r.uniform(0.02, 0.1)),
        z=z,
        shadowed=True,
    )


def earth(scene: Scene, label: int, z: float | None = None) -> int:
    """Dirt, mud and dry grass tones, shared by both fallback ground classes."""
    r = scene.rng
    base = (r.uniform(105, 185), r.uniform(90, 150), r.uniform(60, 120))
    return scene.look(
        label,
        base,
        delta=jitter(r, (18, 14, 4), 10),
        tex=tex_mix(r.uniform(0.03, 0.12), r.uniform(0.05, 0.18), r.uniform(0.03, 0.15)),
        z=z,
        shadowed=True,
    )


def foliage(scene: Scene, z: float | None = None, shadowed: bool = False) -> int:
    """Two-tone leaves, textured; ``shadowed`` only where it lies on the ground."""
    r = scene.rng
    base = (r.uniform(35, 120), r.uniform(60, 140), r.uniform(20, 75))
    amp = r.uniform(10.0, 40.0)  # two-tone leaves: toward yellow-green or toward dark green
    return scene.look(
        C["vegetation"],
        base,
        delta=(amp * r.uniform(0.5, 1.0), amp, amp * r.uniform(0.0, 0.4)),
        tex=tex_mix(r.uniform(0.08, 0.25), r.uniform(0.1, 0.3), r.uniform(0.0, 0.1)),
        z=z,
        shadowed=shadowed,
    )


def paint(scene: Scene, label: int, pool: Sequence[Color], z: float, texture: float = 0.04) -> int:
    """A painted surface from ``pool`` (vehicles, poles, signs, walls), faded by depth."""
    r = scene.rng
    return scene.look(
        label,
        pick(r, pool),
        delta=jitter(r, (6, 6, 6), 4),
        tex=tex_mix(r.uniform(0.01, texture), r.uniform(0.0, texture), ramp=r.uniform(-0.1, 0.1)),
        z=z,
    )


def dark(scene: Scene, label: int, z: float, level: tuple[float, float] = (15, 60)) -> int:
    """Tyres, glass, shadows inside objects: dark, low-texture tones."""
    g = scene.rng.uniform(*level)
    return scene.look(label, jitter(scene.rng, (g, g, g + 5), 4), tex=tex_mix(0.03, 0.05), z=z)
