"""Class ids, texture layers and colour pools shared by every part of a scene.

Why one module: the pools overlap across classes on purpose (vehicles share one paint pool,
ground materials share tones), so they are defined once, where that overlap is visible.
"""

from __future__ import annotations

from segcompress.data.classes import IDD_LEVEL3

__all__ = [
    "CLOTHES",
    "FINE",
    "NO_TEX",
    "N_TEX",
    "PAINT",
    "SKIN",
    "VIVID",
    "VOID",
    "WALL_PAINT",
    "C",
    "Color",
    "Point",
    "tex_mix",
]

C = {name: i for i, name in enumerate(IDD_LEVEL3.names)}
"""Level-3 class id by name."""
VOID = IDD_LEVEL3.ignore_index

# Texture layers a look can mix (amplitudes per look): pixel noise, blotches, large patches,
# horizontal and vertical stripes (text, bricks, fence bars) and a vertical ramp (sky, facades).
FINE, BLOTCH, COARSE, STRIPE_H, STRIPE_V, RAMP = range(6)
N_TEX = 6

Color = tuple[float, float, float]
Point = tuple[float, float]

# Colour pools. Vehicles of every class share one paint pool; ground materials overlap on purpose.
PAINT: tuple[Color, ...] = (
    (235, 235, 232),
    (192, 194, 198),
    (130, 132, 136),
    (40, 40, 44),
    (150, 30, 32),
    (40, 60, 130),
    (100, 30, 40),
    (200, 190, 160),
    (40, 100, 60),
    (225, 190, 40),
    (220, 110, 30),
    (90, 150, 190),
)
WALL_PAINT: tuple[Color, ...] = (
    (220, 210, 180),
    (200, 170, 140),
    (180, 180, 175),
    (150, 150, 150),
    (160, 90, 70),
    (230, 220, 200),
    (190, 200, 170),
    (170, 190, 200),
    (210, 180, 120),
    (120, 110, 100),
    (220, 200, 210),
)
CLOTHES: tuple[Color, ...] = (
    (230, 230, 225),
    (30, 30, 35),
    (40, 50, 110),
    (150, 30, 40),
    (200, 150, 40),
    (60, 110, 60),
    (120, 90, 70),
    (180, 100, 150),
    (90, 90, 95),
    (220, 120, 60),
    (70, 130, 170),
)
SKIN: tuple[Color, ...] = ((150, 105, 80), (120, 80, 60), (180, 135, 105), (95, 65, 50))
VIVID: tuple[Color, ...] = (
    (230, 40, 40),
    (250, 200, 30),
    (30, 90, 200),
    (40, 160, 70),
    (245, 245, 240),
    (240, 120, 20),
    (130, 40, 160),
    (20, 20, 20),
)

NO_TEX = (0.0,) * N_TEX


def tex_mix(
    fine: float = 0.0,
    blotch: float = 0.0,
    coarse: float = 0.0,
    stripe_h: float = 0.0,
    stripe_v: float = 0.0,
    ramp: float = 0.0,
) -> tuple[float, ...]:
    """A look's texture amplitudes, one per layer, by name (unnamed layers stay flat)."""
    return (fine, blotch, coarse, stripe_h, stripe_v, ramp)
