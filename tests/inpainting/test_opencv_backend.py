from __future__ import annotations

import numpy as np
from PIL import Image

from app.core.config import Settings
from app.inpainting.backends import get_backend
from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import OpenCVBackend
from app.inpainting.highres import inpaint_highres
from app.inpainting.masks import mask_from_boxes


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
