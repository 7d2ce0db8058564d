"""The embedded default: OpenCV's Telea inpainting. Fast, local, free, and prompt-blind.

Telea fills the hole by propagating the surrounding colours inward. It removes small objects
and blemishes convincingly and cannot draw anything new, so the prompt is ignored (the
model's description in the registry says so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.inpainting.backends.base import InpaintParams

if TYPE_CHECKING:
    from PIL.Image import Image

NAME = "opencv"
DEFAULT_RADIUS = 5


class OpenCVBackend:
    name = NAME
    # Telea has no native resolution: crops are used as they are up to this side, which
    # bounds the time and memory of a huge mask.
    max_side = 2048
    upscale = False
    size_multiple = 1
    honours_seed = True  # deterministic: the same input gives the same output, seed or not

    def __init__(self, radius: int = DEFAULT_RADIUS) -> None:
        self.radius = radius

    def inpaint(self, image: Image, mask: Image, params: InpaintParams) -> Image:
        return telea(image, mask, self.radius)


def telea(image: Image, mask: Image, radius: int) -> Image:
    """``cv2.inpaint`` Telea, run on the mask's bounding box plus ``radius`` (+2) only.

    Telea fills each hole pixel from the known pixels within ``radius`` of it, so that box
    gives exactly the whole image's result, at a cost that follows the hole rather than the
    image: its working arrays take about 15 bytes per pixel they cover.
    """
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    if image.mode != "RGB":
        image = image.convert("RGB")
    if mask.mode != "L":
        mask = mask.convert("L")
    output = image.copy()
    bbox = mask.getbbox()
    if bbox is None:
        return output
    reach = radius + 2
    region = (
        max(bbox[0] - reach, 0),
        max(bbox[1] - reach, 0),
        min(bbox[2] + reach, image.width),
        min(bbox[3] + reach, image.height),
    )
    # Channel order does not matter to Telea, so no RGB<->BGR round trip.
    filled = cv2.inpaint(np.asarray(image.crop(region)), np.asarray(mask.crop(region)), radius, cv2.INPAINT_TELEA)
    output.paste(PILImage.fromarray(filled, mode="RGB"), region[:2])
    return output
