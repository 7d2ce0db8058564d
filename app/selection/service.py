"""Smart select: a box or a point becomes an object-shaped mask (GrabCut).

GrabCut runs on a reduced copy of the region around the box or point (its longer side at
most ``WORK_SIDE`` pixels), so its cost does not grow with the photo; the mask is then
upsampled to full resolution. JPEGs are decoded straight at a reduced scale (libjpeg's DCT
scaling through Pillow's ``draft``), which is most of the time saved on a 12-megapixel photo.

numpy, OpenCV and Pillow are imported inside the functions: the API handler imports this
module's router at start, and other routes must not pay for them.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

WORK_SIDE = 256  # longer side of the region GrabCut works on
ITERATIONS = 5
BOX_MARGIN = 0.15  # context around a box, as a fraction of its size
POINT_WINDOW = 0.5  # a point's window: this fraction of the image's shorter side
FLOOD_DIFF = 10  # colour step (0..255 per channel) between neighbours that still joins a point's region
MIN_KEEP = 0.1  # keep a component at least this fraction of the largest one (box mode)


class SelectionError(ValueError):
    """Nothing could be selected; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Selection:
    mask: np.ndarray  # (height, width) bool, full resolution
    box: list[int]  # the mask's bounding box; nothing is set outside it
    work_size: tuple[int, int]

    def rle(self) -> dict[str, Any]:
        """COCO RLE of the full mask, from its bounding box alone (a 12-MP column-major copy
        of the whole mask costs more than the rest of the request)."""
        from app.locator.rle import counts_to_string

        height, width = self.mask.shape
        x1, y1, x2, y2 = self.box
        return {
            "size": [height, width],
            "counts": counts_to_string(block_runs(self.mask[y1:y2, x1:x2], (x1, y1), height, width)),
        }

    def png_base64(self) -> str:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.mask.astype("uint8") * 255, mode="L").save(buffer, format="PNG", optimize=False)
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def block_runs(block: np.ndarray, offset: tuple[int, int], height: int, width: int) -> list[int]:
    """Column-major run lengths (background first) of a height x width mask that is zero
    everywhere but ``block``, placed at ``offset`` (x, y)."""
    import numpy as np

    x0, y0 = offset
    columns = np.pad(np.ascontiguousarray(block.T, dtype=np.int8), ((0, 0), (1, 1)))
    steps = np.diff(columns, axis=1)  # per column: +1 where a run starts, -1 where it ends
    start_col, start_row = np.nonzero(steps == 1)
    end_col, end_row = np.nonzero(steps == -1)
    starts = (x0 + start_col) * height + y0 + start_row  # both in column-major order already
    ends = (x0 + end_col) * height + y0 + end_row
    # A run reaching the bottom of a column goes on at the top of the next one: join them.
    if starts.size > 1:
        joins = ends[:-1] == starts[1:]
        starts, ends = starts[np.r_[True, ~joins]], ends[np.r_[~joins, True]]
    bounds = np.empty(2 * starts.size + 2, np.int64)
    bounds[0], bounds[-1] = 0, height * width
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    runs = np.diff(bounds).tolist()
    return runs[:-1] if len(runs) > 1 and runs[-1] == 0 else runs  # no empty run after the last pixel


def _region(size: tuple[int, int], box: list[int] | None, point: list[int] | None) -> tuple[int, int, int, int]:
    """The part of the image GrabCut looks at: the box with some context, or a window around the point."""
    width, height = size
    if box is not None:
        x1, y1, x2, y2 = box
        margin = max(8, round(BOX_MARGIN * max(x2 - x1, y2 - y1)))
        return max(0, x1 - margin), max(0, y1 - margin), min(width, x2 + margin), min(height, y2 + margin)
    assert point is not None
    half = max(16, round(POINT_WINDOW * min(width, height) / 2))
    px, py = point
    return max(0, px - half), max(0, py - half), min(width, px + half + 1), min(height, py + half + 1)


def _load_region(data: bytes, size: tuple[int, int], region: tuple[int, int, int, int]) -> np.ndarray:
    """The region as RGB, its longer side at most WORK_SIDE (decoded at a reduced scale if JPEG)."""
    import cv2
    import numpy as np
    from PIL import Image

    width, height = size
    rx1, ry1, rx2, ry2 = region
    factor = min(1.0, WORK_SIDE / max(rx2 - rx1, ry2 - ry1))
    with Image.open(io.BytesIO(data)) as image:
        if image.size != (width, height):
            raise SelectionError("the stored image does not match its recorded size")
        if image.format == "JPEG" and factor < 1:
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below the requested size.
            image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
        scale_x, scale_y = image.size[0] / width, image.size[1] / height
        crop = image.crop(
            (
                math.floor(rx1 * scale_x),
                math.floor(ry1 * scale_y),
                math.ceil(rx2 * scale_x),
                math.ceil(ry2 * scale_y),
            )
        ).convert("RGB")
    pixels = np.asarray(crop)
    target = (max(1, round((rx2 - rx1) * factor)), max(1, round((ry2 - ry1) * factor)))
    if (pixels.shape[1], pixels.shape[0]) != target:
        pixels = cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels[:, :, ::-1])  # OpenCV wants BGR


def _seeds(
    work: np.ndarray,
    region: tuple[int, int, int, int],
    box: list[int] | None,
    point: list[int] | None,
) -> np.ndarray:
    """GrabCut's initial labels on the work grid."""
    import cv2
    import numpy as np

    shape = work.shape[:2]
    work_h, work_w = shape
    rx1, ry1, rx2, ry2 = region
    sx, sy = work_w / (rx2 - rx1), work_h / (ry2 - ry1)
    if box is not None:
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        bx1, by1 = math.floor((box[0] - rx1) * sx), math.floor((box[1] - ry1) * sy)
        bx2, by2 = math.ceil((box[2] - rx1) * sx), math.ceil((box[3] - ry1) * sy)
        seeds[by1:by2, bx1:bx2] = cv2.GC_PR_FGD
        if not (seeds == cv2.GC_BGD).any():
            # The box is the whole image: its edge is the only hint of background.
            ring = max(1, round(0.03 * max(work_w, work_h)))
            seeds[:ring, :] = seeds[-ring:, :] = cv2.GC_PR_BGD
            seeds[:, :ring] = seeds[:, -ring:] = cv2.GC_PR_BGD
    else:
        seeds = _point_seeds(work, region, point)
    if point is not None:
        px, py = _work_point(point, region, (work_w, work_h))
        cv2.circle(seeds, (px, py), max(2, round(0.02 * max(work_w, work_h))), int(cv2.GC_FGD), thickness=-1)
    return seeds


def _work_point(point: list[int], region: tuple[int, int, int, int], work_size: tuple[int, int]) -> tuple[int, int]:
    rx1, ry1, rx2, ry2 = region
    work_w, work_h = work_size
    return (
        min(work_w - 1, round((point[0] - rx1) * work_w / (rx2 - rx1))),
        min(work_h - 1, round((point[1] - ry1) * work_h / (ry2 - ry1))),
    )


def _point_seeds(work: np.ndarray, region: tuple[int, int, int, int], point: list[int]) -> np.ndarray:
    """A point alone: grow the region of similar colour around it (flood fill on a smoothed
    copy, following gradual shading), and let GrabCut take that as "probably the object",
    its surroundings as "probably not", and what lies beyond as background."""
    import cv2
    import numpy as np

    work_h, work_w = work.shape[:2]
    px, py = _work_point(point, region, (work_w, work_h))
    smooth = cv2.GaussianBlur(work, (0, 0), 1.5)
    flood = np.zeros((work_h + 2, work_w + 2), np.uint8)
    cv2.floodFill(
        smooth, flood, (px, py), (0, 0, 0), (FLOOD_DIFF,) * 3, (FLOOD_DIFF,) * 3, 4 | (1 << 8) | cv2.FLOODFILL_MASK_ONLY
    )
    grown = flood[1:-1, 1:-1].astype(bool)
    ys, xs = np.nonzero(grown)
    margin = max(4, round(0.15 * max(xs.max() - xs.min(), ys.max() - ys.min())))
    seeds = np.full((work_h, work_w), cv2.GC_BGD, np.uint8)
    seeds[
        max(0, ys.min() - margin) : min(work_h, ys.max() + 1 + margin),
        max(0, xs.min() - margin) : min(work_w, xs.max() + 1 + margin),
    ] = cv2.GC_PR_BGD
    seeds[grown] = cv2.GC_PR_FGD
    if not (seeds == cv2.GC_BGD).any():  # the colour region fills the window: keep a ring of background
        ring = max(1, round(0.03 * max(work_w, work_h)))
        seeds[:ring, :] = seeds[-ring:, :] = cv2.GC_BGD
        seeds[:, :ring] = seeds[:, -ring:] = cv2.GC_BGD
    return seeds


def _keep_components(mask: np.ndarray, seed_point: tuple[int, int] | None) -> np.ndarray:
    """Drop specks: the component under the point, or the large components of a box."""
    import cv2
    import numpy as np

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    if seed_point is not None:
        label = labels[seed_point[1], seed_point[0]]
        if label:
            return labels == label
    return np.isin(labels, 1 + np.flatnonzero(areas >= MIN_KEEP * areas.max()))


def smart_select(
    data: bytes, *, size: tuple[int, int], box: list[int] | None = None, point: list[int] | None = None
) -> Selection:
    """The object in ``box`` (or under ``point``) of the image encoded in ``data``, of ``size`` (w, h)."""
    import cv2
    import numpy as np

    width, height = size
    region = _region(size, box, point)
    rx1, ry1, rx2, ry2 = region
    work = _load_region(data, size, region)
    seeds = _seeds(work, region, box, point)
    if not (seeds == cv2.GC_BGD).any() and not (seeds == cv2.GC_PR_BGD).any():
        raise SelectionError("the selection leaves no background to compare the object with")
    cv2.setRNGSeed(0)  # GrabCut's k-means start: the same request gives the same mask
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    cv2.grabCut(work, seeds, None, background, foreground, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    work_mask = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    work_h, work_w = work_mask.shape
    seed_point = _work_point(point, region, (work_w, work_h)) if point is not None else None
    work_mask = _keep_components(work_mask, seed_point)
    if not work_mask.any():
        raise SelectionError("no object found there: try a tighter box, or paint the region")

    # Upsample with linear interpolation and threshold at half: smooth edges, not blocks.
    region_w, region_h = rx2 - rx1, ry2 - ry1
    upsampled = cv2.resize(work_mask.astype(np.uint8) * 255, (region_w, region_h), interpolation=cv2.INTER_LINEAR)
    full = np.zeros((height, width), bool)
    full[ry1:ry2, rx1:rx2] = upsampled >= 128
    if box is not None:  # never past the box the person drew
        full[: box[1]] = False
        full[box[3] :] = False
        full[:, : box[0]] = False
        full[:, box[2] :] = False
    ys, xs = np.nonzero(full[ry1:ry2, rx1:rx2])
    if xs.size == 0:
        raise SelectionError("no object found there: try a tighter box, or paint the region")
    bbox = [int(rx1 + xs.min()), int(ry1 + ys.min()), int(rx1 + xs.max() + 1), int(ry1 + ys.max() + 1)]
    return Selection(mask=full, box=bbox, work_size=(work_w, work_h))
