"""The opencv-fill backend: Telea for thin masks, frequency-selective reconstruction for wide ones."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.core.config import Settings
from app.inpainting.backends import get_backend
from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import OpenCVBackend
from app.inpainting.backends.opencv_fill import OpenCVFillBackend, thickness
from app.inpainting.highres import inpaint_highres
from app.inpainting.masks import mask_from_boxes

PARAMS = InpaintParams(prompt="ignored")


def stripes(width: int = 160, height: int = 120) -> Image.Image:
    """Diagonal colour stripes: a texture a fill must continue across the hole."""
    yy, xx = np.mgrid[0:height, 0:width]
    wave = np.sin((xx + yy) / 4.0)
    pixels = np.stack([128 + 90 * wave, 128 - 90 * wave, np.full_like(wave, 100)], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), mode="RGB")


def hole_error(original: Image.Image, filled: Image.Image, mask: Image.Image) -> float:
    m = np.asarray(mask) > 0
    return float(np.abs(np.asarray(filled, dtype=float) - np.asarray(original, dtype=float))[m].mean())


def test_thickness_is_the_inscribed_radius() -> None:
    assert thickness(np.zeros((20, 20), np.uint8)) == 0
    line = np.zeros((50, 50), np.uint8)
    line[20:23, 5:45] = 255
    square = np.zeros((50, 50), np.uint8)
    square[10:40, 10:40] = 255
    assert thickness(line) <= 2.5 < 14 <= thickness(square) <= 16
    edge = np.zeros((50, 50), np.uint8)
    edge[:, :20] = 255  # touching the border: measured to the border too
    assert 9 <= thickness(edge) <= 11


def test_a_thin_scratch_goes_to_telea_exactly_as_opencv_telea() -> None:
    image = stripes()
    mask = mask_from_boxes(image.size, [[10, 60, 150, 64]])
    backend = OpenCVFillBackend()
    out = backend.inpaint(image, mask, PARAMS)
    assert backend.last_method == "telea"
    assert np.array_equal(np.asarray(out), np.asarray(OpenCVBackend().inpaint(image, mask, PARAMS)))


def test_a_wide_hole_is_filled_by_fsr_and_continues_the_texture_better_than_telea() -> None:
    image = stripes()
    mask = mask_from_boxes(image.size, [[50, 35, 110, 85]])  # 16 % of the image
    backend = OpenCVFillBackend()
    out = backend.inpaint(image, mask, PARAMS)
    assert backend.last_method == "fsr"
    a, b, m = np.asarray(image), np.asarray(out), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m])  # the backend itself leaves the known pixels alone
    telea = OpenCVBackend().inpaint(image, mask, PARAMS)
    assert hole_error(image, out, mask) < 0.5 * hole_error(image, telea, mask)


def test_fsr_works_on_a_smaller_copy_of_a_large_crop_and_answers_full_size() -> None:
    image = stripes(600, 400)
    mask = mask_from_boxes(image.size, [[200, 100, 400, 300]])
    out = OpenCVFillBackend(fsr_side=150).inpaint(image, mask, PARAMS)
    assert out.size == image.size
    a, b, m = np.asarray(image), np.asarray(out), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m]) and (a[m] != b[m]).any()


def test_prompt_is_ignored() -> None:
    image = stripes(80, 60)
    mask = mask_from_boxes(image.size, [[25, 20, 55, 45]])
    a = OpenCVFillBackend().inpaint(image, mask, InpaintParams(prompt="a cat"))
    b = OpenCVFillBackend().inpaint(image, mask, InpaintParams(prompt="a dog", seed=3))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_registered_and_through_highres() -> None:
    backend = get_backend("opencv-fill", Settings())
    assert isinstance(backend, OpenCVFillBackend)
    image = stripes(240, 180)
    mask = mask_from_boxes(image.size, [[100, 70, 140, 110]])
    result = inpaint_highres(image, mask, backend, PARAMS)
    a, b, m = np.asarray(image), np.asarray(result.image), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m]) and (a[m] != b[m]).any()
    assert hole_error(image, result.image, mask) < 40


def test_fsr_holds_few_image_sized_arrays() -> None:
    import tracemalloc

    image = stripes(1000, 800)
    mask = mask_from_boxes(image.size, [[400, 300, 600, 500]])
    backend = OpenCVFillBackend()
    tracemalloc.start()
    try:
        backend.inpaint(image, mask, PARAMS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert backend.last_method == "fsr"
    # The RGB and Lab arrays and FSR's scaled-up fill (about 3 images' bytes), where it was
    # about 10: copies for the known pixels, a whole-image colour round trip, boolean masks.
    assert peak < 5 * 1000 * 800 * 3
