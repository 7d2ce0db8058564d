"""Inpainting masks: one channel ("L"), 255 where the image is regenerated, 0 where it is kept.

Values in between blend: the new pixel covers that fraction of the old one (a soft edge
drawn by the user). The model itself regenerates every nonzero pixel. A 0/1 mask (as saved
from a boolean array) counts as 0/255.

A mask is built from exactly one source (boxes, a base64 PNG, the bytes of an uploaded mask
image) and, once the locator lands, from detection masks (polygons or COCO RLE) combined
with ``union``. Anything unusable (empty, out of bounds, undecodable, not a PNG, another
size than the image) raises ``MaskError``, which the API answers with a 422.

Masks are PNG only: a JPEG's compression noise turns "0" into small nonzero values around
edges, so a lossy mask would leak the edit outside the region the user chose.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

Size = tuple[int, int]  # (width, height), as Pillow has it

MASKED = 255


class MaskError(ValueError):
    """The mask cannot be used; ``message`` is safe to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- sources -------------------------------------------------------------------------------


def mask_from_boxes(size: Size, boxes: Sequence[Sequence[int]]) -> Image:
    """Boxes ``[x1, y1, x2, y2]`` in pixels, x2/y2 exclusive: a box covers columns x1..x2-1.

    Every box must lie within the image (0 <= x1 < x2 <= width, 0 <= y1 < y2 <= height).
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    width, height = size
    if not boxes:
        raise MaskError("boxes: give at least one box [x1, y1, x2, y2]")
    mask = PILImage.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for index, box in enumerate(boxes):
        if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
            raise MaskError(f"boxes[{index}]: expected four integers [x1, y1, x2, y2]")
        x1, y1, x2, y2 = box
        if not (x2 > x1 and y2 > y1):
            raise MaskError(f"boxes[{index}]: needs x2 > x1 and y2 > y1, got {list(box)}")
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise MaskError(f"boxes[{index}]: {list(box)} is outside the {width}x{height} image")
        # ImageDraw's rectangle includes its far corner, hence the -1.
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=MASKED)
    return ensure_not_empty(mask)


def mask_from_png_bytes(size: Size, data: bytes) -> Image:
    """The bytes of a PNG of any mode; a pixel is masked when it is visible and not black."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if not data:
        raise MaskError("mask: empty file, expected a PNG")
    try:
        with warnings.catch_warnings():
            # The size check below decides, before anything is decoded.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            opened = PILImage.open(io.BytesIO(data))
        with opened as source:
            if source.format != "PNG":
                raise MaskError(f"mask must be a PNG (lossless), not {source.format}")
            # Compare sizes from the header, before decoding: a mask can never cost more
            # memory than the image it belongs to.
            if source.size != tuple(size):
                raise MaskError(f"mask is {source.size[0]}x{source.size[1]} but the image is {size[0]}x{size[1]}")
            source.load()
            mask = _coverage(source)
    except MaskError:
        raise
    except PILImage.DecompressionBombError as exc:  # the header claims an absurd size
        raise MaskError(f"mask is far larger than the {size[0]}x{size[1]} image") from exc
    except UnidentifiedImageError as exc:
        raise MaskError("mask is not an image: expected a PNG") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise MaskError(f"mask could not be decoded: {exc}") from exc
    return ensure_not_empty(mask)


def mask_from_png_base64(size: Size, data: str) -> Image:
    """A base64 PNG, optionally as a ``data:image/png;base64,`` URL."""
    text = data.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64") or "image/png" not in header:
            raise MaskError("mask: a data URL must be data:image/png;base64,...")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MaskError("mask: png_base64 is not valid base64") from exc
    return mask_from_png_bytes(size, raw)


def mask_from_polygons(size: Size, polygons: Sequence[Sequence[float]]) -> Image:
    """COCO-style polygons: each a flat list ``[x1, y1, x2, y2, ...]`` of at least 3 points.

    Points may lie on the image's edges (x == width), as detectors produce, not beyond.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    width, height = size
    if not polygons:
        raise MaskError("polygons: give at least one polygon")
    mask = PILImage.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for index, flat in enumerate(polygons):
        if len(flat) < 6 or len(flat) % 2:
            raise MaskError(f"polygons[{index}]: expected [x1, y1, x2, y2, ...] with at least 3 points")
        points = [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
        if any(not (0 <= x <= width and 0 <= y <= height) for x, y in points):
            raise MaskError(f"polygons[{index}]: a point is outside the {width}x{height} image")
        draw.polygon(points, fill=MASKED)
    return ensure_not_empty(mask)


def mask_from_rle(size: Size, rle: Mapping[str, Any]) -> Image:
    """An uncompressed COCO RLE ``{"size": [height, width], "counts": [...]}``.

    Counts alternate background/foreground runs, starting with background, over the pixels
    in column-major order (COCO's convention). Compressed (string) counts are the locator's
    to decode with pycocotools before they reach here.
    """
    import numpy as np
    from PIL import Image as PILImage

    width, height = size
    counts = rle.get("counts")
    if list(rle.get("size", [])) != [height, width]:
        raise MaskError(f"rle: size {rle.get('size')} does not match the image's [{height}, {width}]")
    if not isinstance(counts, list) or not all(isinstance(c, int) and c >= 0 for c in counts):
        raise MaskError("rle: counts must be a list of non-negative integers (uncompressed RLE)")
    if sum(counts) != width * height:
        raise MaskError(f"rle: counts cover {sum(counts)} pixels, the image has {width * height}")
    values = np.zeros(len(counts), dtype=np.uint8)
    values[1::2] = MASKED
    flat = np.repeat(values, counts)
    pixels = flat.reshape((width, height)).T  # column-major -> rows
    return ensure_not_empty(PILImage.fromarray(np.ascontiguousarray(pixels), mode="L"))


def build_mask(
    size: Size,
    *,
    boxes: Sequence[Sequence[int]] | None = None,
    png_base64: str | None = None,
    png_bytes: bytes | None = None,
) -> Image:
    """The mask from exactly one source."""
    given = [
        name
        for name, value in (("boxes", boxes), ("png_base64", png_base64), ("png_bytes", png_bytes))
        if value is not None
    ]
    if len(given) != 1:
        raise MaskError(f"give exactly one mask source, got {len(given)}: {', '.join(given) or 'none'}")
    if boxes is not None:
        return mask_from_boxes(size, boxes)
    if png_base64 is not None:
        return mask_from_png_base64(size, png_base64)
    assert png_bytes is not None
    return mask_from_png_bytes(size, png_bytes)


# --- operations ----------------------------------------------------------------------------


def union(size: Size, masks: Iterable[Image]) -> Image:
    """Every pixel masked in any of ``masks`` (e.g. several detections picked together)."""
    from PIL import Image as PILImage
    from PIL import ImageChops

    result = PILImage.new("L", size, 0)
    for index, mask in enumerate(masks):
        if mask.size != tuple(size):
            raise MaskError(f"masks[{index}] is {mask.size[0]}x{mask.size[1]}, expected {size[0]}x{size[1]}")
        result = ImageChops.lighter(result, _coverage(mask).point(lambda v: MASKED if v else 0))
    return ensure_not_empty(result)


def grow(mask: Image, pixels: int) -> Image:
    """Dilate the mask by ``pixels`` (a round structuring element), clipped to the image.

    Detection masks hug their object; growing them a little covers the halo of the old
    object's edges so the model does not redraw its outline.
    """
    if pixels <= 0:
        return mask.copy()
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    grown = cv2.dilate(np.asarray(mask.convert("L")), kernel)
    return PILImage.fromarray(grown, mode="L")


def ensure_not_empty(mask: Image) -> Image:
    """The mask, if it leaves something to regenerate and something to regenerate it from."""
    low, _high = mask.getextrema()
    if mask.getbbox() is None:
        raise MaskError("mask is empty: nothing to inpaint")
    if low == MASKED:
        raise MaskError("mask covers the whole image: leave part of it unmasked (black) to inpaint from")
    return mask


def _coverage(image: Image) -> Image:
    """0..255 "L": the brightest colour band, times the alpha where there is one; a 0/1
    mask becomes 0/255."""
    from PIL import ImageChops

    has_alpha = image.mode in {"RGBA", "LA", "PA", "La", "RGBa"} or "transparency" in image.info
    if has_alpha:
        image = image.convert("RGBA")
    elif image.mode not in {"L", "RGB"}:
        image = image.convert("RGB" if image.mode in {"P", "CMYK", "YCbCr"} else "L")
    bands = image.split()
    colour, alpha = (bands[:-1], bands[-1]) if has_alpha else (bands, None)
    value = colour[0]
    for band in colour[1:]:
        value = ImageChops.lighter(value, band)
    if alpha is not None:
        value = ImageChops.multiply(value, alpha)
    _low, high = value.getextrema()
    if high == 1:  # a 0/1 mask
        value = value.point(lambda v: MASKED if v else 0)
    return value
