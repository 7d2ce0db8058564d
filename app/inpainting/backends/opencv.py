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
        import cv2
        import numpy as np
        from PIL import Image as PILImage

        pixels = np.asarray(image.convert("RGB"))
        hole = np.asarray(mask.convert("L"))
        # Channel order does not matter to Telea, so no RGB<->BGR round trip.
        filled = cv2.inpaint(pixels, hole, self.radius, cv2.INPAINT_TELEA)
        return PILImage.fromarray(filled, mode="RGB")
