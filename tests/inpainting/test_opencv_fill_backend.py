"""The opencv-fill backend: Telea for thin masks, frequency-selective reconstruction for wide ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.core.config import Settings
from app.inpainting.backends import get_backend
from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import OpenCVBackend
from app.inpainting.backends.opencv_fill import FSR_HOLE_PIXELS, OpenCVFillBackend, thickness
from app.inpainting.highres import inpaint_highres
from app.inpainting.masks import mask_from_boxes
from tests.inpainting.conftest import photo_like

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
    out = backend.inpaint(image.copy(), mask, PARAMS)  # the backend may paint into its input
    assert backend.last_method == "fsr"
    a, b, m = np.asarray(image), np.asarray(out), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m])  # the backend itself leaves the known pixels alone
    telea = OpenCVBackend().inpaint(image, mask, PARAMS)
    assert hole_error(image, out, mask) < 0.5 * hole_error(image, telea, mask)


def test_fsr_works_on_a_smaller_copy_of_a_large_crop_and_answers_full_size() -> None:
    image = stripes(600, 400)
    mask = mask_from_boxes(image.size, [[200, 100, 400, 300]])
    out = OpenCVFillBackend(fsr_side=150).inpaint(image.copy(), mask, PARAMS)  # the backend may paint into its input
    assert out.size == image.size
    a, b, m = np.asarray(image), np.asarray(out), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m]) and (a[m] != b[m]).any()


def test_prompt_is_ignored() -> None:
    image = stripes(80, 60)
    mask = mask_from_boxes(image.size, [[25, 20, 55, 45]])
    a = OpenCVFillBackend().inpaint(image.copy(), mask, InpaintParams(prompt="a cat"))
    b = OpenCVFillBackend().inpaint(image.copy(), mask, InpaintParams(prompt="a dog", seed=3))
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


def test_lab_conversions_match_opencvs() -> None:
    import cv2

    from app.inpainting.backends.opencv_fill import lab_to_rgb, rgb_to_lab

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 150, 3), dtype=np.uint8)  # 200 rows: several 64-row chunks
    lab = rng.integers(0, 256, (200, 150, 3), dtype=np.uint8)  # out-of-gamut colours included
    assert np.abs(rgb_to_lab(rgb).astype(int) - cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)).max() <= 2
    assert np.abs(lab_to_rgb(lab).astype(int) - cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)).max() <= 2


def test_fsr_fills_lightness_at_its_budget_and_chroma_on_a_smaller_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.inpainting.backends import opencv_fill

    calls: list[tuple[tuple[int, ...], int]] = []
    real = opencv_fill._fsr

    def recording(channel: np.ndarray, hole: np.ndarray) -> np.ndarray:
        calls.append((channel.shape, int(hole.sum())))
        return real(channel, hole)

    monkeypatch.setattr(opencv_fill, "_fsr", recording)
    image = stripes(600, 400)
    mask = mask_from_boxes(image.size, [[200, 100, 400, 300]])  # 40 000 hole pixels
    out = OpenCVFillBackend(fsr_hole_pixels=10_000, fsr_chroma_hole_pixels=2_500).inpaint(image, mask, PARAMS)
    assert out.size == image.size
    # One channel per call; lightness (the largest copy) runs on its own thread meanwhile.
    (light, light_hole), (a, a_hole), (b, b_hole) = sorted(calls, key=lambda call: -call[1])
    assert len(light) == len(a) == 2 and a == b and a_hole == b_hole
    assert 0.9 * 10_000 <= light_hole <= 1.1 * 10_000  # scaled, any coverage counts as hole
    assert 0.9 * 2_500 <= a_hole <= 1.1 * 2_500
    assert a[0] * a[1] < 0.3 * light[0] * light[1]


def test_lower_resolution_chroma_fills_about_as_well_as_full_budget_chroma() -> None:
    image = photo_like(800, 600)
    mask = mask_from_boxes(image.size, [[250, 150, 550, 450]])
    hole = np.asarray(mask) > 0
    out = OpenCVFillBackend().inpaint(image.copy(), mask, PARAMS)
    full = OpenCVFillBackend(fsr_chroma_hole_pixels=FSR_HOLE_PIXELS).inpaint(image.copy(), mask, PARAMS)
    a, b = np.asarray(image), np.asarray(out)
    assert np.array_equal(a[~hole], b[~hole])
    # FSR's fits are sensitive to their input (two reasonable fills differ by ~10 of 255
    # here), so the bound is on the error against what was under the hole.
    assert hole_error(image, out, mask) <= 1.15 * hole_error(image, full, mask)


def test_the_fsr_fill_ignores_what_was_under_the_hole() -> None:
    image = photo_like(400, 300)
    mask = mask_from_boxes(image.size, [[120, 80, 280, 220]])
    hole = np.asarray(mask) > 0
    painted = np.asarray(image).copy()
    painted[hole] = (255, 0, 255)  # the object being removed
    a = OpenCVFillBackend().inpaint(image.copy(), mask, PARAMS)
    b = OpenCVFillBackend().inpaint(Image.fromarray(painted), mask, PARAMS)
    assert np.array_equal(np.asarray(a), np.asarray(b))
