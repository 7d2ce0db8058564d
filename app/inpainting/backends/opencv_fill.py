"""A local fill that holds up on large regions: Telea for thin masks, FSR for the rest.

Telea (``cv2.inpaint``) propagates the colours at the hole's edge inward along isophotes: ideal
for scratches, wires and small blemishes, but across a wide hole those lines become long
smeared streaks. Frequency-selective reconstruction (FSR, OpenCV contrib's
``cv2.xphoto.inpaint`` with ``INPAINT_FSR_FAST``; Seiler & Kaup 2015, Genser et al. 2018)
models each block around the hole as a sparse sum of Fourier basis functions fitted to the
known pixels, so it continues textures and gradients instead of streaking.

Which one runs is decided per request from the mask's shape: when every masked pixel lies
within ``thin_radius`` pixels of the hole's edge (the largest inscribed circle, from a distance
transform) the mask is thin and Telea runs at full resolution; otherwise FSR runs. FSR costs
time with the number of masked pixels, so it works on a copy whose longer side is at most
``fsr_side`` and whose hole has at most ``fsr_hole_pixels`` pixels (a 1-megapixel hole is
filled at 1/7 of its size), and the fill is scaled back up; the pixels outside the hole are
the input's own. A large fill is therefore smooth rather than detailed. Prompt-blind, like Telea: the registry's
description says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import telea

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

NAME = "opencv-fill"
TELEA_RADIUS = 5
# FSR's time grows with the hole's pixels (tens of microseconds each), so a larger hole is
# reconstructed on a scaled-down copy with at most this many hole pixels.
FSR_HOLE_PIXELS = 20_000


def thickness(hole: np.ndarray) -> float:
    """The radius in pixels of the largest disc that fits in the hole (0 for an empty mask)."""
    import cv2
    import numpy as np

    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    if not rows.size:
        return 0.0
    # Only the hole's bounding box: everything outside it is "not hole", and the one-pixel
    # ring added around it stands for that (and for the image's border when the box touches it).
    hole = hole[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    padded = np.pad((hole > 0).astype(np.uint8), 1)
    return float(cv2.distanceTransform(padded, cv2.DIST_L2, 3).max())


def fill_fsr(pixels: np.ndarray, hole: np.ndarray, box: Box, max_side: int, max_hole_pixels: int) -> np.ndarray:
    """FSR's fill of ``box`` (left, top, right, bottom) of a uint8 image (hole: nonzero = fill).

    FSR runs on the whole image scaled so that the longer side is at most ``max_side`` and
    the hole at most ``max_hole_pixels`` (FSR's time grows with the hole); only ``box`` is
    returned, at full size, pixels outside the hole included (the caller keeps its own).
    """
    import cv2
    import numpy as np

    height, width = hole.shape
    hole_pixels = max(1, int(np.count_nonzero(hole)))
    scale = min(1.0, max_side / max(height, width), (max_hole_pixels / hole_pixels) ** 0.5)
    work, work_hole = pixels, hole > 0
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        # Any coverage counts: the small hole covers everything the large one does.
        work_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    # FSR leaves the image's outermost row/column of a hole unfilled: pad so that a hole
    # touching the border is inside the padded image, then cut the padding off.
    pad = 8
    known = np.where(work_hole, 0, 255).astype(np.uint8)  # xphoto: nonzero = valid pixel
    known = cv2.copyMakeBorder(known, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    padded = cv2.copyMakeBorder(np.ascontiguousarray(work), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    filled = np.zeros_like(padded)
    cv2.xphoto.inpaint(padded, known, filled, cv2.xphoto.INPAINT_FSR_FAST)
    filled = np.ascontiguousarray(filled[pad:-pad, pad:-pad])
    if scale < 1.0:
        filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    left, top, right, bottom = box
    return np.ascontiguousarray(filled[top:bottom, left:right])


class OpenCVFillBackend:
    name = NAME
    max_side = 2048  # as Telea: thin strokes keep their resolution; FSR scales down itself
    upscale = False
    size_multiple = 1
    honours_seed = True  # deterministic, like Telea

    def __init__(
        self, *, thin_radius: float = 6.0, fsr_side: int = 512, fsr_hole_pixels: int = FSR_HOLE_PIXELS
    ) -> None:
        self.thin_radius = thin_radius
        self.fsr_side = fsr_side
        self.fsr_hole_pixels = fsr_hole_pixels
        self.last_method: str | None = None  # "telea" or "fsr": logged, and read by tests

    def inpaint(self, image: Image, mask: Image, params: InpaintParams) -> Image:
        import cv2
        import numpy as np
        from PIL import Image as PILImage

        if image.mode != "RGB":
            image = image.convert("RGB")
        if mask.mode != "L":
            mask = mask.convert("L")
        box = mask.getbbox()
        # Measured on the hole's bounding box only: outside it there is no hole.
        if box is None or thickness(np.asarray(mask.crop(box))) <= self.thin_radius:
            self.last_method = "telea"
            return telea(image, mask, TELEA_RADIUS)
        self.last_method = "fsr"
        # In CIE Lab, not RGB: FSR fits each channel on its own, and in RGB the three fits
        # disagree at colour edges into false colours (green streaks on an orange suit).
        lab = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2LAB)
        fill = fill_fsr(lab, np.asarray(mask), box, self.fsr_side, self.fsr_hole_pixels)
        del lab
        fill = cv2.cvtColor(fill, cv2.COLOR_LAB2RGB)
        # Only the hole's pixels are replaced: the colour round trip must not touch the others.
        output = image.copy()
        output.paste(PILImage.fromarray(fill, mode="RGB"), box[:2], mask.crop(box).point(lambda v: 255 if v else 0))
        return output
