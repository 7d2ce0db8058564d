"""The high-resolution strategy: inpaint a crop around the mask, paste it back through the mask.

Stable Diffusion 2 inpainting works at 512 px. Sending a whole 4096 px photo would mean
shrinking it eightfold (the edit comes back blurred) and shipping megabytes per call. Instead:
take the mask's bounding box, add a margin of context, make it square where the image allows,
scale that crop to the backend's size, inpaint, scale the result back, and paste it into the
full-resolution original through the mask. Pixels outside the mask are the input's own,
bit for bit; a feather (if any) only softens the inside of the mask's edge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.inpainting.backends.base import InpaintingBackend, InpaintParams
from app.inpainting.masks import MaskError

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

DEFAULT_MARGIN_RATIO = 0.25
DEFAULT_MIN_MARGIN = 32
DEFAULT_FEATHER = 4


@dataclass(frozen=True)
class HighresResult:
    image: Image
    crop_box: Box
    working_size: tuple[int, int]  # what the backend was given


def crop_box(
    image_size: tuple[int, int],
    mask_bbox: Box,
    *,
    margin_ratio: float = DEFAULT_MARGIN_RATIO,
    min_margin: int = DEFAULT_MIN_MARGIN,
) -> Box:
    """A square around the mask's bounding box plus a margin, shifted and clamped into the image.

    The margin gives the model context to match lighting and texture. The square keeps the
    scale the same on both axes; near an edge the square is shifted inward, and only an image
    smaller than the square makes it a rectangle.
    """
    width, height = image_size
    x1, y1, x2, y2 = mask_bbox
    side = max(x2 - x1, y2 - y1)
    side += 2 * max(min_margin, round(side * margin_ratio))
    crop_w, crop_h = min(side, width), min(side, height)
    left = _clamp(round((x1 + x2 - crop_w) / 2), 0, width - crop_w)
    top = _clamp(round((y1 + y2 - crop_h) / 2), 0, height - crop_h)
    return left, top, left + crop_w, top + crop_h


def working_size(crop_size: tuple[int, int], *, max_side: int, upscale: bool, multiple: int) -> tuple[int, int]:
    """The size the crop is scaled to: longest side ``max_side`` (or less, unless ``upscale``),
    aspect kept, both sides multiples of ``multiple``."""
    width, height = crop_size
    scale = max_side / max(width, height)
    if not upscale:
        scale = min(scale, 1.0)
    if scale == 1.0 and width % multiple == 0 and height % multiple == 0:
        return width, height

    def fit(value: int) -> int:
        # Floor to the multiple, so the longest side never exceeds max_side.
        return max(multiple, int(value * scale) // multiple * multiple)

    return fit(width), fit(height)


def inpaint_highres(
    image: Image,
    mask: Image,
    backend: InpaintingBackend,
    params: InpaintParams,
    *,
    feather: int = DEFAULT_FEATHER,
    margin_ratio: float = DEFAULT_MARGIN_RATIO,
    min_margin: int = DEFAULT_MIN_MARGIN,
    in_place: bool = False,
) -> HighresResult:
    """Regenerate the masked region of ``image`` (RGB or RGBA) at its full resolution.

    ``in_place=True`` pastes into ``image`` itself: the caller decoded it just for this job,
    and a second full-resolution copy (48 MB at 4096x4096) is the largest avoidable cost.
    """
    from PIL import Image as PILImage

    if mask.size != image.size:
        raise MaskError(f"mask is {mask.size[0]}x{mask.size[1]} but the image is {image.size[0]}x{image.size[1]}")
    if mask.mode != "L":
        mask = mask.convert("L")
    bbox = mask.getbbox()
    if bbox is None:
        raise MaskError("mask is empty: nothing to inpaint")
    if image.mode not in {"RGB", "RGBA"}:
        image, in_place = image.convert("RGB"), True  # already a private copy

    box = crop_box(image.size, bbox, margin_ratio=margin_ratio, min_margin=min_margin)
    crop_size = (box[2] - box[0], box[3] - box[1])
    size = working_size(crop_size, max_side=backend.max_side, upscale=backend.upscale, multiple=backend.size_multiple)
    crop_mask = mask.crop(box)
    # Only the crop is copied out of the full-resolution image. An RGB image is scaled
    # straight from the image (``box=``), with no full-size crop in between; RGBA is made RGB
    # first, since Pillow would scale it premultiplied and lose the colour under alpha 0.
    if image.mode == "RGB" and size != crop_size:
        model_image = image.resize(size, PILImage.Resampling.LANCZOS, box=box)
    else:
        model_image = image.crop(box)
        if model_image.mode != "RGB":
            model_image = model_image.convert("RGB")
        if size != crop_size:
            model_image = model_image.resize(size, PILImage.Resampling.LANCZOS)
    # Area-average then "any coverage is masked": a thin stroke survives the downscale, so
    # the model regenerates at least everything the user masked.
    model_mask = crop_mask if size == crop_size else crop_mask.resize(size, PILImage.Resampling.BOX)
    # The model regenerates every pixel the mask touches; grey values only blend the paste.
    # (A mask that is already 0/255, such as every box mask, is used as it is: no copy.)
    if model_mask is not crop_mask or not _is_binary(model_mask):
        model_mask = model_mask.point(lambda v: 255 if v else 0)
    logger.info(
        "inpainting crop",
        extra={
            "backend": backend.name,
            "image_size": list(image.size),
            "crop_box": list(box),
            "working_size": list(size),
        },
    )

    # Only the mask's bounding box (plus what the feather reads around it) is pasted: the rest
    # of the crop was context for the model, so only that part is scaled back up. Cut before
    # the backend runs, so the crop's mask is not held while it works.
    left, top = bbox[0] - box[0], bbox[1] - box[1]
    paste_box = _grow_box(
        (left, top, left + bbox[2] - bbox[0], top + bbox[3] - bbox[1]), _feather_reach(feather), crop_size
    )
    paste_mask = crop_mask.crop(paste_box)
    del crop_mask
    result = backend.inpaint(model_image, model_mask, params)
    del model_image, model_mask
    paste_size = (paste_box[2] - paste_box[0], paste_box[3] - paste_box[1])
    if result.mode != "RGB":
        result = result.convert("RGB")
    if result.size != crop_size:
        scale_x, scale_y = result.size[0] / crop_size[0], result.size[1] / crop_size[1]
        source = (paste_box[0] * scale_x, paste_box[1] * scale_y, paste_box[2] * scale_x, paste_box[3] * scale_y)
        result = result.resize(paste_size, PILImage.Resampling.LANCZOS, box=source)
    else:
        result = result.crop(paste_box)
    at = (box[0] + paste_box[0], box[1] + paste_box[1])
    if image.mode == "RGBA":
        # The edit changes colour, never transparency: keep the original's alpha.
        result = result.convert("RGBA")
        result.putalpha(image.crop((*at, at[0] + paste_size[0], at[1] + paste_size[1])).getchannel("A"))

    output = image if in_place else image.copy()
    # Paste through the mask: where the alpha is 0 Pillow leaves the pixel untouched.
    output.paste(result, at, paste_alpha(paste_mask, feather))
    return HighresResult(image=output, crop_box=box, working_size=size)


def open_image(data: bytes) -> Image:
    """Decode stored bytes to an RGB or RGBA image, without a second full-resolution copy.

    ``Image.open(...).convert("RGB")`` on an RGB file holds the decoded pixels twice for a
    moment (2 x 48 MB at 4096x4096); the decoded image is used as it is when it can be.
    """
    import io

    from PIL import Image as PILImage

    image = PILImage.open(io.BytesIO(data))
    image.load()
    if image.mode in {"RGB", "RGBA"}:
        return image
    has_alpha = image.mode in {"LA", "PA", "La"} or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def encode_png(image: Image) -> bytes:
    """The output is always PNG: re-encoding a JPEG would change the pixels outside the mask.

    Compression level 1: at 4096x4096 it is several times faster than the default and
    the file only slightly larger.
    """
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def paste_alpha(mask: Image, feather: int) -> Image:
    """The paste mask: ``mask`` itself, or with a soft inner edge ``feather`` px wide.

    Erode, blur, then clip to the original mask, so the softened edge lies entirely inside
    the mask and every pixel outside it keeps alpha 0.
    """
    if feather <= 0:
        return mask
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    hard = np.asarray(mask)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * feather + 1, 2 * feather + 1))
    eroded = cv2.erode(hard, kernel)
    if not eroded.any():
        return mask  # thinner than the feather: keep the hard edge rather than lose the edit
    soft = cv2.GaussianBlur(eroded, (0, 0), sigmaX=feather / 2)
    return PILImage.fromarray(np.minimum(soft, hard), mode="L")


def _is_binary(mask: Image) -> bool:
    colors = mask.getcolors(2)  # None: more than two values
    return colors is not None and all(value in (0, 255) for _, value in colors)


def _feather_reach(feather: int) -> int:
    """How far outside a pixel ``paste_alpha`` looks: the erosion's radius plus the blur's
    (OpenCV's kernel for sigma = feather / 2 has radius about 1.5 * feather), with room to spare."""
    return 3 * feather + 2 if feather > 0 else 0


def _grow_box(box: Box, by: int, size: tuple[int, int]) -> Box:
    return max(box[0] - by, 0), max(box[1] - by, 0), min(box[2] + by, size[0]), min(box[3] + by, size[1])


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))
