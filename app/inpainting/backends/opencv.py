"""The embedded default: OpenCV's Telea inpainting. Fast, local, free, and prompt-blind.

Telea fills the hole by propagating the surrounding colours inward. It removes small objects
and blemishes convincingly and cannot draw anything new, so the prompt is ignored (the
model's description in the registry says so).

Telea's time follows the hole's pixels (about 1.5 µs each: 3 s for a 2-megapixel hole). Deep
inside a wide hole its fill is only a smooth blend of the edge's colours, so a hole of more
than ``TELEA_HOLE_PIXELS`` whose interior lies more than ``2 * radius`` from its edge is filled
coarse to fine: Telea on a copy scaled so the hole has ``TELEA_HOLE_PIXELS``, scaled back up
into the hole, then full-resolution Telea on the band ``2 * radius`` wide along the hole's edge,
with that coarse fill as the known interior. The edge keeps Telea's full detail and joins the
coarse interior without a seam, at a cost that follows the hole's perimeter. Thin masks and
small holes take the exact full-resolution path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.inpainting.backends.base import InpaintParams

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

NAME = "opencv"
DEFAULT_RADIUS = 5
# Above this many hole pixels a wide hole is filled coarse to fine (the coarse copy's hole has
# this many): 0.07 s for the coarse fill, where full resolution costs 1.5 s per megapixel.
TELEA_HOLE_PIXELS = 40_000


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


def telea(image: Image, mask: Image, radius: int, hole_pixels: int = TELEA_HOLE_PIXELS) -> Image:
    """``cv2.inpaint`` Telea, run on the mask's bounding box plus ``radius`` (+2) only.

    Telea fills each hole pixel from the known pixels within ``radius`` of it, so that box
    gives exactly the whole image's result, at a cost that follows the hole rather than the
    image: its working arrays take about 15 bytes per pixel they cover. A wide hole of more
    than ``hole_pixels`` is filled coarse to fine (``telea_coarse_to_fine``).
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
    pixels, hole = np.asarray(image.crop(region)), np.asarray(mask.crop(region))
    filled = telea_coarse_to_fine(pixels, hole, radius, hole_pixels)
    if filled is None:
        filled = cv2.inpaint(pixels, hole, radius, cv2.INPAINT_TELEA)
    output.paste(PILImage.fromarray(filled, mode="RGB"), region[:2])
    return output


def telea_coarse_to_fine(pixels: np.ndarray, hole: np.ndarray, radius: int, hole_pixels: int) -> np.ndarray | None:
    """Telea's fill of a wide hole (uint8 ``hole``, nonzero = fill) coarse to fine, or None
    where the exact full-resolution Telea must run: a hole of at most ``hole_pixels``, or one
    whose every pixel lies within the ``2 * radius`` band along its edge (a thin mask)."""
    import cv2
    import numpy as np

    count = cv2.countNonZero(hole)
    if count <= hole_pixels or count == hole.size:
        return None
    band = 2 * radius
    # Each hole pixel's distance to the nearest known pixel (the image's border is not one).
    distance = cv2.distanceTransform((hole > 0).astype(np.uint8), cv2.DIST_L2, 3)
    if float(distance.max()) <= band:
        return None
    ring = ((distance > 0) & (distance <= band)).astype(np.uint8)
    del distance
    height, width = hole.shape
    scale = (hole_pixels / count) ** 0.5
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    # Any coverage counts as hole, so no coarse "known" pixel carries the hole's old content.
    small_hole = (cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    coarse = cv2.inpaint(small, small_hole, radius, cv2.INPAINT_TELEA)
    del small, small_hole
    # The scaled-up fill becomes the working image (no second image-sized copy): the known
    # pixels are copied back into it.
    work = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    del coarse
    np.copyto(work, pixels, where=hole[..., None] == 0)
    # Full resolution only along the edge: Telea blends the edge's detail into the coarse interior.
    return cv2.inpaint(work, ring, radius, cv2.INPAINT_TELEA)
