from __future__ import annotations

import numpy as np
import pytest

from app.locator import rle


def test_known_encodings() -> None:
    # What pycocotools.mask.encode gives for these masks.
    assert rle.encode(np.zeros((2, 2), bool)) == {"size": [2, 2], "counts": "4"}
    full = rle.encode(np.ones((2, 2), bool))
    assert rle.string_to_counts(full["counts"]) == [0, 4]
    mask = np.array([[0, 1], [1, 1]], bool)  # column-major: 0,1 | 1,1 → runs [1, 3]
    assert rle.run_lengths(mask) == [1, 3]


@pytest.mark.parametrize("seed", range(5))
def test_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 200, size=2)
    mask = rng.random((height, width)) < rng.random()
    mask[: height // 3, : width // 2] = True  # long runs, for multi-group numbers
    encoded = rle.encode(mask)
    assert isinstance(encoded["counts"], str) and encoded["counts"].isascii()
    assert (rle.decode(encoded) == mask).all()
    assert (rle.decode(rle.to_uncompressed(encoded)) == mask).all()
    assert rle.area(encoded) == int(mask.sum())


def test_large_runs_and_negative_deltas() -> None:
    mask = np.zeros((1000, 1000), bool)
    mask[100:900, 100:110] = True  # runs that shrink and grow: negative and positive deltas
    mask[500, 500:900] = True
    assert (rle.decode(rle.encode(mask)) == mask).all()


def test_uncompressed_form_is_what_inpainting_reads() -> None:
    from app.inpainting.masks import mask_from_rle

    mask = np.zeros((30, 40), bool)
    mask[5:20, 10:35] = True
    image = mask_from_rle((40, 30), rle.to_uncompressed(rle.encode(mask)))
    assert (np.asarray(image) > 0).tolist() == mask.tolist()


@pytest.mark.parametrize(
    "bad",
    [
        {"size": [2, 2], "counts": [1, 2]},
        {"size": [2], "counts": "4"},
        {"size": [2, 2], "counts": "4\x7f"},
        {"size": [2, 2], "counts": "T"},  # "more" bit set, then nothing
    ],
)
def test_decode_rejects_malformed(bad: dict) -> None:
    with pytest.raises(ValueError):
        rle.decode(bad)
