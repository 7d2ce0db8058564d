"""COCO run-length encoding of binary masks, in plain numpy (no pycocotools).

The stored form is COCO's *compressed* RLE: ``{"size": [height, width], "counts": "<ascii>"}``.
Runs alternate background/foreground, starting with background (a first run of 0 when the
top-left pixel is set), over the pixels in **column-major** order (down the first column,
then the next). The run lengths are written as pycocotools' ``rleToString`` does: each run
minus the run two before it (from the fourth run on), as 5-bit groups, least significant
first, with bit 0x20 meaning "more groups follow" and bit 0x10 the sign of the last group,
each group offset by 48 to make printable ASCII. ``pycocotools.mask.decode`` reads it as is.

``decode`` also accepts the uncompressed form (``counts`` a list of integers), which is what
``app.inpainting.masks.mask_from_rle`` takes; ``to_uncompressed`` converts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def run_lengths(mask: np.ndarray) -> list[int]:
    """Column-major run lengths of a 2-D boolean mask, starting with a background run."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def counts_to_string(counts: list[int]) -> str:
    chars: list[str] = []
    for index, count in enumerate(counts):
        value = int(count) - (int(counts[index - 2]) if index > 2 else 0)
        more = True
        while more:
            group = value & 0x1F
            value >>= 5  # arithmetic shift, as C's on a signed long
            more = value != -1 if group & 0x10 else value != 0
            if more:
                group |= 0x20
            chars.append(chr(group + 48))
    return "".join(chars)


def string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    position = 0
    while position < len(text):
        value = 0
        shift = 0
        more = True
        while more:
            if position >= len(text):
                raise ValueError("truncated RLE string")
            group = ord(text[position]) - 48
            if not 0 <= group < 64:
                raise ValueError("invalid character in RLE string")
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def encode(mask: np.ndarray) -> dict[str, Any]:
    """A 2-D boolean mask → ``{"size": [h, w], "counts": "<compressed>"}``."""
    height, width = mask.shape[:2]
    return {"size": [int(height), int(width)], "counts": counts_to_string(run_lengths(mask))}


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Compressed or uncompressed COCO RLE → an (h, w) boolean array."""
    size = rle.get("size")
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise ValueError("RLE size must be [height, width]")
    height, width = size
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    if not isinstance(counts, list) or not all(isinstance(c, int) and c >= 0 for c in counts):
        raise ValueError("RLE counts must be a string or a list of non-negative integers")
    if sum(counts) != height * width:
        raise ValueError(f"RLE counts cover {sum(counts)} pixels, the mask has {height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((width, height)).T.copy()


def to_uncompressed(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, str | bytes):
        counts = string_to_counts(counts.decode("ascii") if isinstance(counts, bytes) else counts)
    return {"size": list(rle["size"]), "counts": list(counts)}


def area(rle: Mapping[str, Any]) -> int:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    return int(sum(counts[1::2]))
