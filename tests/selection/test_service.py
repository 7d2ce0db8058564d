"""Smart select's own pieces: RLE from the mask's bounding box equals the plain encoder's."""

from __future__ import annotations

import numpy as np

from app.locator.rle import decode, encode, run_lengths
from app.selection.service import Selection, block_runs


def test_block_runs_equal_the_full_masks_runs():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        height, width = (int(v) for v in rng.integers(1, 12, 2))
        mask = np.zeros((height, width), bool)
        x1 = int(rng.integers(0, width))
        x2 = int(rng.integers(x1 + 1, width + 1))
        y1, y2 = (0, height) if rng.random() < 0.3 else sorted(int(v) for v in rng.choice(height + 1, 2, replace=False))
        if y1 == y2:
            continue
        mask[y1:y2, x1:x2] = rng.random((y2 - y1, x2 - x1)) < rng.random()
        assert block_runs(mask[y1:y2, x1:x2], (x1, y1), height, width) == run_lengths(mask)


def test_selection_rle_decodes_to_its_mask():
    mask = np.zeros((40, 30), bool)
    mask[5:40, 10:30] = np.random.default_rng(1).random((35, 20)) < 0.6
    ys, xs = np.nonzero(mask)
    selection = Selection(
        mask=mask, box=[int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1], work_size=(1, 1)
    )
    assert selection.rle() == encode(mask)
    assert np.array_equal(decode(selection.rle()), mask)
