"""What every locator model answers, whatever runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class RawDetection:
    """One object in one image.

    ``box`` is ``(x1, y1, x2, y2)`` in integer pixels of the input image, x2/y2 exclusive.
    ``mask``, when the model gives one, is an (h, w) boolean array the size of the image.
    """

    label: str
    score: float
    box: tuple[int, int, int, int]
    mask: np.ndarray | None = None


class Predictor(Protocol):
    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        """For each (h, w, 3) uint8 RGB image, its detections (any order, any score)."""
        ...


def box_from_mask(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The tight box of a boolean mask (x2/y2 exclusive), or None when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
