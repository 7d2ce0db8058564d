"""What every locator model answers, whatever runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# A mask given by the part of the image it can cover: (x, y) of its top-left pixel and a
# boolean array of that region. Pixels outside the region are False.
MaskPatch = tuple[int, int, np.ndarray]


class PredictorUnavailable(Exception):
    """The model cannot be loaded here (unknown backend, missing library, no GPU, weights not
    found, unreadable or not fitting the model): its jobs fail ``model_unavailable``."""


@dataclass
class RawDetection:
    """One object in one image.

    ``box`` is ``(x1, y1, x2, y2)`` in integer pixels of the input image, x2/y2 exclusive.
    The mask, when the model gives one, comes in one of two forms:

    - ``mask``: an (h, w) boolean array the size of the image (cheap models, tests);
    - ``mask_patch``: a function returning a ``MaskPatch``, called only for detections that
      are kept, so that a model with 100 candidates on a 40-megapixel photo never holds
      100 image-sized masks (Detectron2 pastes its 28x28 mask into the box on demand).
    """

    label: str
    score: float
    box: tuple[int, int, int, int]
    mask: np.ndarray | None = None
    mask_patch: Callable[[], MaskPatch] | None = None

    @property
    def has_mask(self) -> bool:
        return self.mask is not None or self.mask_patch is not None

    def full_mask(self, height: int, width: int) -> np.ndarray | None:
        """The mask as an (height, width) boolean array, or None when the model gave none."""
        if self.mask is not None:
            if self.mask.shape[:2] != (height, width):
                raise ValueError(f"predictor mask is {self.mask.shape[:2]}, image is {(height, width)}")
            return self.mask.astype(bool, copy=False)
        if self.mask_patch is None:
            return None
        x, y, patch = self.mask_patch()
        patch_height, patch_width = patch.shape[:2]
        if x < 0 or y < 0 or x + patch_width > width or y + patch_height > height:
            raise ValueError(f"mask patch at {(x, y)} of {patch.shape[:2]} leaves the image {(height, width)}")
        full = np.zeros((height, width), dtype=bool)
        full[y : y + patch_height, x : x + patch_width] = patch
        return full


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
