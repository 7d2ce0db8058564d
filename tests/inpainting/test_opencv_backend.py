from __future__ import annotations

import numpy as np
from PIL import Image

from app.core.config import Settings
from app.inpainting.backends import get_backend
from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import OpenCVBackend
from app.inpainting.highres import inpaint_highres
from app.inpainting.masks import mask_from_boxes
from tests.inpainting.conftest import photo_like


def test_telea_fills_the_hole_from_its_surroundings() -> None:
    # A flat blue image with a red square: inpainting the square brings back the blue.
    image = Image.new("RGB", (200, 150), (20, 40, 200))
    image.paste((255, 0, 0), (80, 60, 110, 90))
    mask = mask_from_boxes(image.size, [[78, 58, 112, 92]])
    out = OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="ignored"))
    assert out.size == image.size and out.mode == "RGB"
    centre = np.asarray(out)[70:80, 90:100].astype(int)
    assert np.abs(centre - [20, 40, 200]).max() <= 3


def test_prompt_is_ignored() -> None:
    image = Image.effect_noise((64, 64), 50).convert("RGB")
    mask = mask_from_boxes(image.size, [[20, 20, 40, 40]])
    a = OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="a cat"))
    b = OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="a dog", seed=3))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_through_highres_at_crop_resolution() -> None:
    image = Image.effect_noise((1200, 900), 60).convert("RGB")
    mask = mask_from_boxes(image.size, [[600, 400, 640, 440]])
    result = inpaint_highres(image, mask, get_backend("opencv", Settings()), InpaintParams(prompt="x"))
    assert result.working_size == (104, 104)  # Telea works on the crop as it is: no resampling
    a, b, m = np.asarray(image), np.asarray(result.image), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m]) and (a[m] != b[m]).any()


def strokes_mask(size: tuple[int, int], seed: int) -> Image.Image:
    """A few random strokes, some running off the image's edges."""
    import cv2

    rng = np.random.default_rng(seed)
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    for _ in range(3):
        points = rng.integers([-20, -20], [width + 20, height + 20], size=(4, 2)).astype(np.int32)
        cv2.polylines(mask, [points], isClosed=False, color=255, thickness=int(rng.integers(2, 12)))
    return Image.fromarray(mask, mode="L")


def test_telea_on_the_holes_box_gives_the_whole_images_result() -> None:
    import cv2

    image = Image.effect_noise((320, 240), 60).convert("RGB")
    for seed in range(4):
        mask = strokes_mask(image.size, seed)
        whole = cv2.inpaint(np.asarray(image), np.asarray(mask), 5, cv2.INPAINT_TELEA)
        out = OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="x"))
        assert np.array_equal(np.asarray(out), whole)


def test_telea_allocates_for_the_hole_not_the_image() -> None:
    import tracemalloc

    image = Image.effect_noise((2000, 1500), 60).convert("RGB")
    mask = mask_from_boxes(image.size, [[900, 700, 920, 720]])
    tracemalloc.start()
    try:
        OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The image as an array would be 9 MB; the hole's box plus Telea's radius is 1 KB.
    assert peak < 0.1 * 2000 * 1500 * 3


def test_a_wide_hole_is_filled_coarse_to_fine_close_to_full_resolution_telea() -> None:
    import cv2

    from app.inpainting.backends.opencv import TELEA_HOLE_PIXELS

    image = photo_like(800, 600)
    mask = mask_from_boxes(image.size, [[250, 150, 550, 450]])  # 90 000 px, more than the budget
    hole = np.asarray(mask) > 0
    assert hole.sum() > TELEA_HOLE_PIXELS
    full = cv2.inpaint(np.asarray(image), np.asarray(mask), 5, cv2.INPAINT_TELEA).astype(int)
    out = np.asarray(OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="x"))).astype(int)
    original = np.asarray(image).astype(int)
    assert np.array_equal(out[~hole], original[~hole])  # outside the hole: untouched
    assert not np.array_equal(out, full)  # the coarse-to-fine path did run
    # Inside: close to the full-resolution fill, closest along the edge (full-resolution band).
    assert np.abs(out - full)[hole].mean() < 4
    edge = (cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3) <= 5) & hole
    assert np.abs(out - full)[edge].mean() < 1
    # And no further from what was under the hole than the full-resolution fill.
    assert np.abs(out - original)[hole].mean() <= np.abs(full - original)[hole].mean() + 0.5


def test_the_coarse_to_fine_fill_ignores_what_was_under_the_hole() -> None:
    image = photo_like(800, 600)
    mask = mask_from_boxes(image.size, [[250, 150, 550, 450]])
    hole = np.asarray(mask) > 0
    painted = np.asarray(image).copy()
    painted[hole] = (255, 0, 255)  # the object being removed
    a = OpenCVBackend().inpaint(image, mask, InpaintParams(prompt="x"))
    b = OpenCVBackend().inpaint(Image.fromarray(painted), mask, InpaintParams(prompt="x"))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_thin_masks_and_small_holes_keep_the_exact_full_resolution_telea() -> None:
    import cv2

    from app.inpainting.backends.opencv import TELEA_HOLE_PIXELS

    image = photo_like(1600, 1200)
    strokes = np.zeros((1200, 1600), np.uint8)
    for y in range(100, 1200, 150):  # 8 strokes 16 px wide: far more pixels than the budget
        strokes[y : y + 16, 50:1550] = 255
    small = np.asarray(mask_from_boxes(image.size, [[700, 500, 880, 700]]))  # 36 000 px, wide
    assert (strokes > 0).sum() > TELEA_HOLE_PIXELS >= (small > 0).sum()
    for mask in (strokes, small):
        whole = cv2.inpaint(np.asarray(image), mask, 5, cv2.INPAINT_TELEA)
        out = OpenCVBackend().inpaint(image, Image.fromarray(mask, mode="L"), InpaintParams(prompt="x"))
        assert np.array_equal(np.asarray(out), whole)
