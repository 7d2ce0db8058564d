from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from app.inpainting.backends.base import InpaintParams
from app.inpainting.highres import crop_box, inpaint_highres, paste_alpha, working_size
from app.inpainting.masks import MaskError, mask_from_boxes
from tests.inpainting.conftest import RecordingBackend, noise_image

PARAMS = InpaintParams(prompt="a red bicycle", seed=1)


def assert_outside_unchanged_inside_changed(before: Image.Image, after: Image.Image, mask: Image.Image) -> None:
    assert after.size == before.size
    a, b = np.asarray(before), np.asarray(after)
    masked = np.asarray(mask) > 0
    assert np.array_equal(a[~masked], b[~masked]), "a pixel outside the mask changed"
    assert (a[masked] != b[masked]).any(axis=-1).mean() > 0.9, "the masked region did not change"


def test_crop_is_a_square_with_margin_inside_the_image() -> None:
    # 40 px box, margin max(32, 10) on each side -> 104 px square centred on the box.
    assert crop_box((1000, 800), (500, 400, 540, 440)) == (468, 368, 572, 472)
    # Near a corner the square shifts inward instead of shrinking.
    assert crop_box((1000, 800), (0, 0, 40, 40)) == (0, 0, 104, 104)
    assert crop_box((1000, 800), (960, 760, 1000, 800)) == (896, 696, 1000, 800)
    # Larger than the image on one axis: the whole axis.
    assert crop_box((300, 100), (100, 20, 200, 80)) == (68, 0, 232, 100)
    # A big box gets a 25 % margin.
    assert crop_box((4000, 4000), (1000, 1000, 2000, 2000)) == (750, 750, 2250, 2250)


def test_working_size() -> None:
    assert working_size((104, 104), max_side=512, upscale=True, multiple=8) == (512, 512)
    assert working_size((1500, 1000), max_side=512, upscale=True, multiple=8) == (512, 336)
    assert working_size((104, 100), max_side=2048, upscale=False, multiple=1) == (104, 100)
    assert working_size((4096, 1000), max_side=2048, upscale=False, multiple=1) == (2048, 500)
    for crop in [(3, 5000), (511, 513), (1000, 999), (64, 64)]:
        w, h = working_size(crop, max_side=512, upscale=True, multiple=8)
        assert max(w, h) <= 512 and w % 8 == 0 and h % 8 == 0 and w >= 8 and h >= 8


@pytest.mark.parametrize("feather", [0, 4])
def test_output_keeps_every_pixel_outside_the_mask(feather: int, recording_backend: RecordingBackend) -> None:
    image = noise_image(900, 600)
    mask = mask_from_boxes(image.size, [[400, 250, 470, 330], [10, 10, 30, 20]])
    before = image.copy()
    result = inpaint_highres(image, mask, recording_backend, PARAMS, feather=feather)
    assert_outside_unchanged_inside_changed(before, result.image, mask)
    assert np.array_equal(np.asarray(image), np.asarray(before)), "the input was modified"
    sent_image, sent_mask, params = recording_backend.calls[0]
    assert sent_image.size == sent_mask.size == result.working_size
    assert max(sent_image.size) <= 512 and params is PARAMS
    if feather:
        # The centre of the big box is fully replaced; its edge is blended, never outside.
        assert result.image.getpixel((435, 290)) == recording_backend.colour


def test_rgba_input_keeps_its_alpha(recording_backend: RecordingBackend) -> None:
    image = noise_image(200, 200).convert("RGBA")
    image.putalpha(Image.new("L", image.size, 77))
    mask = mask_from_boxes(image.size, [[50, 50, 100, 100]])
    result = inpaint_highres(image, mask, recording_backend, PARAMS, feather=0)
    assert result.image.mode == "RGBA"
    assert set(np.unique(np.asarray(result.image.getchannel("A")))) == {77}
    assert result.image.getpixel((75, 75)) == (*recording_backend.colour, 77)


def test_in_place_reuses_the_input(recording_backend: RecordingBackend) -> None:
    image = noise_image(300, 300)
    mask = mask_from_boxes(image.size, [[100, 100, 150, 150]])
    result = inpaint_highres(image, mask, recording_backend, PARAMS, in_place=True)
    assert result.image is image


def test_thin_mask_survives_the_downscale(recording_backend: RecordingBackend) -> None:
    image = noise_image(3000, 3000)
    mask = mask_from_boxes(image.size, [[0, 1500, 3000, 1501]])  # 1 px line across 3000 px
    result = inpaint_highres(image, mask, recording_backend, PARAMS)
    _, sent_mask, _ = recording_backend.calls[0]
    assert sent_mask.getbbox() is not None
    assert_outside_unchanged_inside_changed(image, result.image, mask)


def test_paste_alpha_stays_inside_the_mask() -> None:
    mask = mask_from_boxes((100, 100), [[20, 20, 80, 80]])
    alpha = np.asarray(paste_alpha(mask, 6))
    hard = np.asarray(mask)
    assert (alpha[hard == 0] == 0).all()
    assert alpha[50, 50] == 255 and 0 < alpha[21, 50] < 255
    thin = mask_from_boxes((100, 100), [[20, 20, 80, 22]])
    assert paste_alpha(thin, 6) is thin  # thinner than the feather: keep the hard edge


def test_refuses_empty_or_mismatched_masks(recording_backend: RecordingBackend) -> None:
    image = noise_image(100, 100)
    with pytest.raises(MaskError, match="empty"):
        inpaint_highres(image, Image.new("L", image.size, 0), recording_backend, PARAMS)
    with pytest.raises(MaskError, match="99x100"):
        inpaint_highres(image, Image.new("L", (99, 100), 255), recording_backend, PARAMS)
    assert not recording_backend.calls


def test_4096_sends_only_a_small_crop(recording_backend: RecordingBackend) -> None:
    image = Image.new("RGB", (4096, 4096), (90, 120, 150))
    mask = mask_from_boxes(image.size, [[2000, 3000, 2100, 3080]])
    result = inpaint_highres(image, mask, recording_backend, PARAMS, in_place=True)
    sent_image, _, _ = recording_backend.calls[0]
    assert max(sent_image.size) <= 512
    assert result.crop_box == (1968, 2958, 2132, 3122)  # 100 px + 2 x 32 px margin
    assert result.image.size == (4096, 4096)
    assert result.image.getpixel((2050, 3040)) == recording_backend.colour
    assert result.image.getpixel((1999, 3040)) == (90, 120, 150)


@dataclass
class SmoothNoiseBackend:
    """Answers a smooth random picture of the working size: every pixel it returns differs."""

    name: str = "smooth-noise"
    max_side: int = 256
    upscale: bool = False
    size_multiple: int = 1

    def inpaint(self, image: Image.Image, mask: Image.Image, params: InpaintParams) -> Image.Image:
        rng = np.random.default_rng(0)
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), mode="RGB")
        return small.resize(image.size, Image.Resampling.BICUBIC)


@pytest.mark.parametrize("feather", [0, 4])
@pytest.mark.parametrize("boxes", [[[300, 200, 420, 330]], [[0, 0, 90, 60], [60, 30, 100, 80]], [[850, 500, 900, 600]]])
def test_pastes_only_the_masks_box_as_if_the_whole_crop_were_pasted(feather: int, boxes: list[list[int]]) -> None:
    image = noise_image(900, 600)
    mask = mask_from_boxes(image.size, boxes)
    backend = SmoothNoiseBackend()
    result = inpaint_highres(image, mask, backend, PARAMS, feather=feather)
    # The reference: scale the backend's answer back to the whole crop and paste all of it.
    box = result.crop_box
    crop_size = (box[2] - box[0], box[3] - box[1])
    answer = backend.inpaint(Image.new("RGB", result.working_size), Image.new("L", result.working_size), PARAMS)
    expected = image.copy()
    expected.paste(answer.resize(crop_size, Image.Resampling.LANCZOS), box[:2], paste_alpha(mask.crop(box), feather))
    a, b, m = np.asarray(expected).astype(int), np.asarray(result.image).astype(int), np.asarray(mask) > 0
    assert np.array_equal(a[~m], b[~m])
    assert np.abs(a[m] - b[m]).max() <= 1  # the same resampling, up to float rounding


def test_scales_back_only_the_masks_box() -> None:
    import tracemalloc

    image = noise_image(3000, 3000)
    mask = mask_from_boxes(image.size, [[1000, 1000, 2000, 2000]])
    tracemalloc.start()
    try:
        inpaint_highres(image, mask, RecordingBackend(), PARAMS, in_place=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The feather's arrays cover the 1000 x 1000 box plus the feather's reach (about 4 MB),
    # not the 1500 x 1500 crop with its margin (about 9 MB).
    assert peak < 6 * 1000 * 1000


def test_rgba_crop_is_scaled_without_losing_the_colour_under_transparency() -> None:
    backend = RecordingBackend(max_side=64)
    image = Image.new("RGBA", (400, 400), (200, 30, 60, 0))  # fully transparent, but coloured
    mask = mask_from_boxes(image.size, [[150, 150, 250, 250]])
    inpaint_highres(image, mask, backend, PARAMS)
    sent, _, _ = backend.calls[0]
    assert sent.mode == "RGB" and sent.getpixel((5, 5)) == (200, 30, 60)
