"""Render the pictures of docs/map-styles.md: each map style's frame 0 (filled masks) and a box frame.

Run from the repository root: ``python docs/map-styles/render.py``.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from flashbench.data.schema import Annotation, ObjectTrack
from flashbench.data.trajectory import MAP_STYLES, from_annotation, render_maps

H, W, T = 240, 416, 5  # outlines min(H, W) // 100 = 2 px


def scene() -> Annotation:
    """Four objects: a large disc with a small square on it, a bar, a triangle; all moving right."""
    yy, xx = np.mgrid[:H, :W]
    masks = np.zeros((4, T, H, W), bool)
    for t in range(T):
        dx = 12 * t
        masks[0, t] = (xx - 110 - dx) ** 2 + (yy - 120) ** 2 <= 70**2
        masks[1, t, 95:140, 120 + dx : 165 + dx] = True  # on top of the disc
        masks[2, t, 30:210, 250 + dx : 275 + dx] = True
        masks[3, t] = (yy > 60) & (yy < 190) & (np.abs(xx - 340 - dx) < (yy - 60) * 0.4)
    return Annotation("demo", T, H, W, tuple(ObjectTrack.from_masks(k, f"o{k}", masks[k]) for k in range(4)))


def main() -> None:
    out = Path(__file__).parent
    maps = {name: render_maps(from_annotation(scene(), "box"), name) for name in MAP_STYLES}
    gap = np.full((H, 8, 3), 255, np.uint8)
    for name, m in maps.items():
        Image.fromarray(np.concatenate([m[0], gap, m[T - 1]], axis=1)).save(out / f"{name}.png", optimize=True)
        print(f"wrote {out / f'{name}.png'}")


if __name__ == "__main__":
    main()
