"""Fill quality of the local inpainting models on real photos: error inside the hole, and time.

Each photo (scikit-image's real photos) gets elliptical holes of 5 %, 15 % and 25 % of its
area at fixed places; each local model fills them through the same high-resolution path the
worker uses (``inpaint_highres``); the error is the mean absolute difference (0-255, over the
three channels) between the fill and the original inside the hole, lower is better. No fill
can know what was under a hole, so this measures plausibility only roughly: a smooth fill
scores well on smooth regions; look at docs/img/ too. Then one 1-megapixel masked region
(a 1000 x 1000 ellipse's bounding square in a 2048 x 1536 upscaled photo) is timed per model.

Usage: ``python bench/fill_quality.py`` (needs requirements-dev.txt).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402
from photos import load_photo  # noqa: E402
from PIL import Image  # noqa: E402

from app.inpainting.backends.base import InpaintParams  # noqa: E402
from app.inpainting.backends.opencv import OpenCVBackend  # noqa: E402
from app.inpainting.backends.opencv_fill import OpenCVFillBackend  # noqa: E402
from app.inpainting.highres import inpaint_highres  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
FRACTIONS = (0.05, 0.15, 0.25)
# Hole centres as fractions of the width/height, one per hole size.
CENTRES = ((0.55, 0.6), (0.4, 0.45), (0.5, 0.5))


def ellipse_mask(size: tuple[int, int], centre: tuple[float, float], fraction: float) -> Image.Image:
    """An ellipse of the image's aspect covering ``fraction`` of its area."""
    import cv2

    width, height = size
    scale = (fraction / np.pi) ** 0.5  # pi * (s*w) * (s*h) = fraction * w * h
    mask = np.zeros((height, width), np.uint8)
    cx, cy = round(centre[0] * width), round(centre[1] * height)
    cv2.ellipse(mask, (cx, cy), (round(scale * width), round(scale * height)), 0, 0, 360, 255, -1)
    return Image.fromarray(mask, mode="L")


def error_inside(original: Image.Image, filled: Image.Image, mask: Image.Image) -> float:
    m = np.asarray(mask) > 0
    diff = np.abs(np.asarray(filled, dtype=np.float64) - np.asarray(original, dtype=np.float64))
    return float(diff[m].mean())


def main() -> None:
    models = {"opencv-telea": OpenCVBackend(), "opencv-fill": OpenCVFillBackend()}
    params = InpaintParams(prompt="ignored")
    rows: dict[str, dict[float, list[tuple[float, float]]]] = {name: {f: [] for f in FRACTIONS} for name in models}
    for photo in PHOTOS:
        image = Image.fromarray(load_photo(photo))
        for fraction, centre in zip(FRACTIONS, CENTRES, strict=True):
            mask = ellipse_mask(image.size, centre, fraction)
            for name, backend in models.items():
                started = time.perf_counter()
                result = inpaint_highres(image, mask, backend, params)
                seconds = time.perf_counter() - started
                rows[name][fraction].append((error_inside(image, result.image, mask), seconds))

    print(f"{len(PHOTOS)} photos ({', '.join(PHOTOS)}), one elliptical hole per size and photo;")
    print("error = mean |fill - original| inside the hole (0-255), lower is better; time per fill\n")
    print("| model | hole 5 % | hole 15 % | hole 25 % | mean error | mean s/fill |")
    print("|---|---|---|---|---|---|")
    for name, by_fraction in rows.items():
        errors = [statistics.mean(e for e, _ in by_fraction[f]) for f in FRACTIONS]
        times = [s for f in FRACTIONS for _, s in by_fraction[f]]
        cells = " | ".join(f"{e:.1f}" for e in errors)
        print(f"| {name} | {cells} | **{statistics.mean(errors):.1f}** | {statistics.mean(times):.2f} |")

    big = Image.fromarray(load_photo("astronaut")).resize((2048, 1536), Image.Resampling.BICUBIC)
    mask = Image.new("L", big.size, 0)
    mask.paste(255, (524, 268, 1524, 1268))  # 1000 x 1000 = 1 MP
    print("\n1-megapixel masked region (1000 x 1000 box in a 2048 x 1536 photo), through inpaint_highres:\n")
    print("| model | seconds | working size |")
    print("|---|---|---|")
    for name, backend in models.items():
        started = time.perf_counter()
        result = inpaint_highres(big, mask, backend, params)
        print(f"| {name} | {time.perf_counter() - started:.2f} | {result.working_size[0]}x{result.working_size[1]} |")


if __name__ == "__main__":
    main()
