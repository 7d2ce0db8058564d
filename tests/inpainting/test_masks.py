from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from app.inpainting.masks import (
    MaskError,
    build_mask,
    grow,
    mask_from_boxes,
    mask_from_png_base64,
    mask_from_png_bytes,
    mask_from_polygons,
    mask_from_rle,
    union,
)
from tests.inpainting.conftest import png

SIZE = (64, 48)


def pixels(mask: Image.Image) -> np.ndarray:
    assert mask.mode == "L"
    values = np.asarray(mask)
    assert set(np.unique(values)) <= {0, 255}
    return values


# --- boxes -------------------------------------------------------------------------------


def test_boxes_cover_exactly_their_pixels() -> None:
    mask = mask_from_boxes(SIZE, [[10, 5, 20, 15], [0, 0, 1, 1]])
    values = pixels(mask)
    assert mask.size == SIZE
    assert values[5:15, 10:20].all() and values.sum() == 255 * (100 + 1)
    assert values[15, 10] == 0 and values[5, 20] == 0  # x2 / y2 are exclusive


def test_box_may_touch_the_far_edges() -> None:
    masked = pixels(mask_from_boxes(SIZE, [[1, 1, 64, 48]]))
    assert masked[1:, 1:].all() and not masked[0].any()


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([], "at least one box"),
        ([[10, 10, 10, 20]], "x2 > x1"),
        ([[10, 20, 20, 10]], "y2 > y1"),
        ([[-1, 0, 10, 10]], "outside"),
        ([[0, 0, 65, 10]], "outside"),
        ([[0, 0, 10, 49]], "outside"),
        ([[0, 0, 10]], "four integers"),
        ([[0, 0, 10.5, 10]], "four integers"),
    ],
)
def test_bad_boxes_are_refused(boxes: list, message: str) -> None:
    with pytest.raises(MaskError, match=message):
        mask_from_boxes(SIZE, boxes)


# --- PNG bytes / base64 ----------------------------------------------------------------------


def test_png_of_any_mode_nonzero_is_masked() -> None:
    rgb = Image.new("RGB", SIZE, (0, 0, 0))
    rgb.putpixel((3, 4), (1, 0, 0))  # a 0/1 mask: the faintest nonzero still counts in full
    values = pixels(mask_from_png_bytes(SIZE, png(rgb)))
    assert values[4, 3] == 255 and values.sum() == 255

    grey = Image.new("L", SIZE, 0)
    grey.paste(200, (10, 10, 20, 20))  # grey is a soft mask: kept, so the paste blends
    soft = np.asarray(mask_from_png_bytes(SIZE, png(grey)))
    assert (soft[10:20, 10:20] == 200).all() and soft.sum() == 200 * 100

    one_bit = Image.new("1", SIZE, 0)
    one_bit.paste(1, (0, 0, 5, 5))
    assert pixels(mask_from_png_bytes(SIZE, png(one_bit))).sum() == 255 * 25


def test_transparent_pixels_are_not_masked() -> None:
    rgba = Image.new("RGBA", SIZE, (255, 255, 255, 0))  # white but invisible
    rgba.paste((255, 255, 255, 255), (0, 0, 8, 8))
    values = pixels(mask_from_png_bytes(SIZE, png(rgba)))
    assert values.sum() == 255 * 64


def test_base64_and_data_url() -> None:
    grey = Image.new("L", SIZE, 0)
    grey.paste(255, (1, 1, 3, 3))
    encoded = base64.b64encode(png(grey)).decode()
    assert pixels(mask_from_png_base64(SIZE, encoded)).sum() == 255 * 4
    assert pixels(mask_from_png_base64(SIZE, "data:image/png;base64," + encoded)).sum() == 255 * 4


def _grey_with_box() -> Image.Image:
    grey = Image.new("L", SIZE, 0)
    grey.paste(255, (1, 1, 30, 30))
    return grey


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"not an image at all", "not an image"),
        (png(Image.new("L", SIZE, 0)), "empty"),
        (png(Image.new("L", (65, 48), 255)), "65x48 but the image is 64x48"),
        (png(_grey_with_box().convert("RGB"), "JPEG"), "must be a PNG"),
        (png(_grey_with_box())[:60], "could not be decoded|not an image"),
    ],
)
def test_bad_png_masks_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(MaskError, match=message):
        mask_from_png_bytes(SIZE, data)


def test_bad_base64_is_refused() -> None:
    with pytest.raises(MaskError, match="not valid base64"):
        mask_from_png_base64(SIZE, "***")
    with pytest.raises(MaskError, match="data:image/png"):
        mask_from_png_base64(SIZE, "data:image/jpeg;base64,AAAA")


# --- exactly one source ----------------------------------------------------------------------


def test_build_mask_needs_exactly_one_source() -> None:
    assert pixels(build_mask(SIZE, boxes=[[0, 0, 2, 2]])).sum() == 255 * 4
    with pytest.raises(MaskError, match="exactly one"):
        build_mask(SIZE)
    with pytest.raises(MaskError, match="exactly one"):
        build_mask(SIZE, boxes=[[0, 0, 2, 2]], png_bytes=png(_grey_with_box()))


# --- detection masks, union, grow -------------------------------------------------------------


def test_polygons() -> None:
    values = pixels(mask_from_polygons(SIZE, [[10, 10, 30, 10, 30, 30, 10, 30]]))
    assert values[15, 15] == 255 and values[5, 5] == 0
    with pytest.raises(MaskError, match="outside"):
        mask_from_polygons(SIZE, [[10, 10, 70, 10, 30, 30]])
    with pytest.raises(MaskError, match="at least 3 points"):
        mask_from_polygons(SIZE, [[10, 10, 20, 20]])


def test_uncompressed_rle_is_column_major() -> None:
    width, height = 4, 3
    # 3 background pixels (column 0), then 2 masked (column 1, rows 0-1), then the rest.
    mask = mask_from_rle((width, height), {"size": [height, width], "counts": [3, 2, 7]})
    values = pixels(mask)
    assert values[0, 1] == 255 and values[1, 1] == 255 and values.sum() == 255 * 2
    with pytest.raises(MaskError, match="does not match"):
        mask_from_rle((width, height), {"size": [width, height], "counts": [3, 2, 7]})
    with pytest.raises(MaskError, match="cover"):
        mask_from_rle((width, height), {"size": [height, width], "counts": [3, 2]})


def test_union_and_grow() -> None:
    a = mask_from_boxes(SIZE, [[0, 0, 4, 4]])
    b = mask_from_boxes(SIZE, [[10, 10, 12, 12]])
    both = pixels(union(SIZE, [a, b]))
    assert both.sum() == 255 * (16 + 4)
    with pytest.raises(MaskError, match="empty"):
        union(SIZE, [])
    with pytest.raises(MaskError, match="expected 64x48"):
        union(SIZE, [Image.new("L", (8, 8), 255)])

    grown = pixels(grow(b, 2))
    assert grown[10:12, 10:12].all() and grown[9, 10] == 255 and grown[8, 10] == 255
    assert grown[6, 10] == 0 and grown.sum() > both.sum() - 255 * 16
    assert pixels(grow(b, 0)).sum() == 255 * 4
