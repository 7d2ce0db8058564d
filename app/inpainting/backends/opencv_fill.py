"""A local fill that holds up on large regions: Telea for thin masks, FSR for the rest.

Telea (``cv2.inpaint``) propagates the colours at the hole's edge inward along isophotes: ideal
for scratches, wires and small blemishes, but across a wide hole those lines become long
smeared streaks. Frequency-selective reconstruction (FSR, OpenCV contrib's
``cv2.xphoto.inpaint`` with ``INPAINT_FSR_FAST``; Seiler & Kaup 2015, Genser et al. 2018)
models each block around the hole as a sparse sum of Fourier basis functions fitted to the
known pixels, so it continues textures and gradients instead of streaking.

Which one runs is decided per request from the mask's shape: when every masked pixel lies
within ``thin_radius`` pixels of the hole's edge (the largest inscribed circle, from a distance
transform) the mask is thin and Telea runs at full resolution; otherwise FSR runs.

FSR runs in CIE Lab, one channel per call (in RGB its per-channel fits disagree at colour
edges into false colours; xphoto's 3-channel mode converts its input "BGR" to YCrCb, which
would mix the Lab channels again, and costs more than three 1-channel calls). Its time
grows with the masked pixels, so lightness is filled on a copy whose longer side is at most
``fsr_side`` and whose hole has at most ``fsr_hole_pixels`` pixels (a 1-megapixel hole is
filled at 1/7 of its size), and the two chroma channels on a copy whose hole has at most
``fsr_chroma_hole_pixels`` (a quarter: the eye resolves colour far less finely than
lightness, as JPEG's 4:2:0 assumes), which makes them cheap. The fill is scaled back up; the
pixels outside the hole are the input's own. A large fill is therefore smooth rather than
detailed. Prompt-blind, like Telea: the registry's description says so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.opencv import telea

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from PIL.Image import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

NAME = "opencv-fill"
TELEA_RADIUS = 5
# FSR's time grows with the hole's pixels (tens of microseconds each), so a larger hole is
# reconstructed on a scaled-down copy with at most this many hole pixels (lightness), and
# the chroma on one with a quarter of them.
FSR_HOLE_PIXELS = 20_000
FSR_CHROMA_HOLE_PIXELS = 5_000


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


def fill_fsr(
    image: Image, mask: Image, box: Box, max_side: int, max_hole_pixels: int, max_chroma_hole_pixels: int
) -> Image:
    """FSR's fill of ``box`` (left, top, right, bottom) of an RGB image (``mask``: "L", nonzero
    = fill), as an RGB image of the box's size.

    In CIE Lab, one channel per FSR call: lightness on a copy scaled so the longer side is at
    most ``max_side`` and the hole at most ``max_hole_pixels`` (FSR's time grows with the
    hole), the two chroma channels on a smaller copy whose hole has at most
    ``max_chroma_hole_pixels`` (the eye sees colour at far less resolution than lightness:
    JPEG's 4:2:0 keeps a quarter of the chroma samples). Only ``box`` is returned, at full
    size, pixels outside the hole included (the caller keeps its own).
    """
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    width, height = image.size
    hole_pixels = max(1, width * height - mask.histogram()[0])
    light_scale = min(1.0, max_side / max(height, width), (max_hole_pixels / hole_pixels) ** 0.5)
    chroma_scale = min(light_scale, (max_chroma_hole_pixels / hole_pixels) ** 0.5)
    # Only scaled-down copies are made: no image-sized array (the crop can be the whole photo).
    size = (max(1, round(width * light_scale)), max(1, round(height * light_scale)))
    rgb = np.asarray(image if size == image.size else image.resize(size, PILImage.Resampling.BOX))
    coverage = _coverage(mask, size)
    lab = rgb_to_lab(rgb)
    # Lightness on another thread while this one does the chroma: OpenCV releases the GIL, and
    # the job's wall time (what its user waits for) becomes the longer of the two, not the sum.
    with ThreadPoolExecutor(max_workers=1) as pool:
        light_future = pool.submit(_fsr, np.ascontiguousarray(lab[..., 0]), coverage)
        if chroma_scale < light_scale:  # from the lightness copy: far fewer pixels to average
            rgb, coverage = _scaled(rgb, coverage.astype(np.float32), width, height, chroma_scale)
            coverage = coverage > 0
            lab = rgb_to_lab(rgb)
        del rgb
        chroma = np.dstack([_fsr(lab[..., 1], coverage), _fsr(lab[..., 2], coverage)])
        del lab
        light = light_future.result()
    if chroma.shape[:2] != light.shape:
        chroma = cv2.resize(chroma, light.shape[::-1], interpolation=cv2.INTER_CUBIC)
    # Back to RGB at the lightness copy's size, then only ``box`` is scaled up.
    filled = PILImage.fromarray(lab_to_rgb(np.dstack([light, chroma])), mode="RGB")
    left, top, right, bottom = box
    if filled.size == (width, height):
        return filled.crop(box)
    scale_x, scale_y = filled.width / width, filled.height / height
    source = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
    return filled.resize((right - left, bottom - top), PILImage.Resampling.BICUBIC, box=source)


def _coverage(mask: Image, size: tuple[int, int]) -> np.ndarray:
    """Where the hole covers any part of a pixel of ``hole`` scaled to ``size``: the small hole
    covers everything the large one does, so the fill never reads what was under the hole.

    uint8 area-averaging rounds a coverage below 1/510 of a pixel to 0; growing the result by
    one pixel puts such slivers back (the cost: a pixel less of context around the hole)."""
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    marked = mask.point(lambda v: 255 if v else 0)
    if size == mask.size:
        return np.asarray(marked) > 0
    small = np.asarray(marked.resize(size, PILImage.Resampling.BOX)) > 0
    return cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _scaled(
    rgb: np.ndarray, coverage: np.ndarray, width: int, height: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` and the hole's ``coverage`` area-averaged to ``scale`` of ``width`` x ``height``."""
    import cv2

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == rgb.shape[1::-1]:
        return rgb, coverage
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.resize(coverage, size, interpolation=cv2.INTER_AREA)


def _fsr(channel: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One channel through ``cv2.xphoto.inpaint`` FSR_FAST (hole: True = fill)."""
    import cv2
    import numpy as np

    # FSR leaves the image's outermost row/column of a hole unfilled: pad so that a hole
    # touching the border is inside the padded image, then cut the padding off.
    pad = 8
    known = np.where(hole, 0, 255).astype(np.uint8)  # xphoto: nonzero = valid pixel
    known = cv2.copyMakeBorder(known, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # Zeroed: the fill must not depend on what was under the hole (xphoto zeroes only colour).
    padded = cv2.copyMakeBorder(np.where(hole, 0, channel).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    filled = np.zeros_like(padded)
    cv2.xphoto.inpaint(padded, known, filled, cv2.xphoto.INPAINT_FSR_FAST)
    return np.ascontiguousarray(filled[pad:-pad, pad:-pad])


# sRGB (D65) <-> CIE Lab in NumPy, with OpenCV's 8-bit encoding (L * 255 / 100, a + 128,
# b + 128). Not cv2.cvtColor: its Lab tables cost 0.09 s per direction to build, in every
# fresh process, and FSR only ever converts arrays of at most 512 x 512.
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)  # D65: X, Y and Z are divided by it
_EPSILON = 0.008856  # (6/29)^3


def _rgb_to_xyz_matrix() -> np.ndarray:
    import numpy as np

    return (np.array(_RGB_TO_XYZ) / np.array(_WHITE)[:, None]).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 Lab (OpenCV's encoding)."""
    import numpy as np

    code = np.arange(256) / 255.0
    linear = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4).astype(np.float32)
    to_xyz = _rgb_to_xyz_matrix().T

    def convert(rows: np.ndarray) -> np.ndarray:
        xyz = linear[rows] @ to_xyz
        f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz * 7.787 + 16 / 116)
        return np.stack(
            [(116 * f[..., 1] - 16) * 2.55, 500 * (f[..., 0] - f[..., 1]) + 128, 200 * (f[..., 1] - f[..., 2]) + 128],
            axis=-1,
        )

    return _by_rows(convert, rgb)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """uint8 Lab (OpenCV's encoding) -> uint8 RGB."""
    import numpy as np

    from_xyz = np.linalg.inv(_rgb_to_xyz_matrix()).T

    def convert(rows: np.ndarray) -> np.ndarray:
        lab = rows.astype(np.float32)
        f_y = (lab[..., 0] / 2.55 + 16) / 116
        f = np.stack([f_y + (lab[..., 1] - 128) / 500, f_y, f_y - (lab[..., 2] - 128) / 200], axis=-1)
        linear = np.clip(np.where(f > 6 / 29, f**3, (f - 16 / 116) / 7.787) @ from_xyz, 0, 1)
        return np.where(linear <= 0.0031308, linear * 12.92, np.power(linear, 1 / 2.4) * 1.055 - 0.055) * 255

    return _by_rows(convert, lab)


def _by_rows(convert: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, rows: int = 64) -> np.ndarray:
    """``convert`` (to floats, rounded here into uint8) applied 64 rows at a time: its
    temporaries stay small whatever the image's size."""
    import numpy as np

    out = np.empty(pixels.shape, np.uint8)
    for top in range(0, pixels.shape[0], rows):
        out[top : top + rows] = np.clip(np.rint(convert(pixels[top : top + rows])), 0, 255)
    return out


class OpenCVFillBackend:
    name = NAME
    # No cap: both methods bound their own cost (FSR scales to its hole budgets, Telea runs only
    # on thin masks, whose cost follows the stroke pixels), so scaling the crop to a cap first
    # and back afterwards would only cost time (two LANCZOS passes, 0.27 s for a 3000² crop).
    max_side = 1 << 16
    upscale = False
    size_multiple = 1
    honours_seed = True  # deterministic, like Telea

    def __init__(
        self,
        *,
        thin_radius: float = 6.0,
        fsr_side: int = 512,
        fsr_hole_pixels: int = FSR_HOLE_PIXELS,
        fsr_chroma_hole_pixels: int = FSR_CHROMA_HOLE_PIXELS,
    ) -> None:
        self.thin_radius = thin_radius
        self.fsr_side = fsr_side
        self.fsr_hole_pixels = fsr_hole_pixels
        self.fsr_chroma_hole_pixels = fsr_chroma_hole_pixels
        self.last_method: str | None = None  # "telea" or "fsr": logged, and read by tests

    def inpaint(self, image: Image, mask: Image, params: InpaintParams) -> Image:
        import numpy as np

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
        fill = fill_fsr(image, mask, box, self.fsr_side, self.fsr_hole_pixels, self.fsr_chroma_hole_pixels)
        # Only the hole's pixels are replaced: the colour round trip must not touch the others.
        # Into ``image`` itself: it is ours (see InpaintingBackend.inpaint).
        image.paste(fill, box[:2], mask.crop(box).point(lambda v: 255 if v else 0))
        return image
