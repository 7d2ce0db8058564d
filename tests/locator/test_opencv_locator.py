from __future__ import annotations

import numpy as np
import pytest

from app.locator.predictors.opencv import OpenCVLocator
from tests.locator.shapes import match, scene


@pytest.mark.parametrize("background", ["plain", "noisy", "textured"])
@pytest.mark.parametrize("size", [(480, 360), (1280, 960)])
def test_finds_exactly_the_three_shapes(background: str, size: tuple[int, int]) -> None:
    image, truth = scene(*size, background=background)
    detections = OpenCVLocator().detect(image)
    assert len(detections) == 3, [(d.box, d.score) for d in detections]
    assert min(match([d.box for d in detections], truth)) >= 0.8
    for detection in detections:
        assert detection.label == "object"
        assert 0.5 <= detection.score <= 1.0
        assert detection.mask is not None and detection.mask.shape == image.shape[:2]
        # The mask lies within its box and fills most of it (these are solid shapes).
        x1, y1, x2, y2 = detection.box
        assert detection.mask[y1:y2, x1:x2].sum() == detection.mask.sum()
        assert detection.mask.sum() >= 0.45 * (x2 - x1) * (y2 - y1)


def test_deterministic() -> None:
    image, _ = scene(background="textured")
    first, second = OpenCVLocator().detect(image), OpenCVLocator().detect(image.copy())
    assert [(d.box, d.score) for d in first] == [(d.box, d.score) for d in second]
    assert all((a.mask == b.mask).all() for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("kind", ["blank", "noise", "gradient"])
def test_nothing_to_find(kind: str) -> None:
    rng = np.random.default_rng(1)
    if kind == "blank":
        image = np.full((300, 400, 3), 128, np.uint8)
    elif kind == "noise":
        image = np.clip(128 + rng.normal(0, 25, (300, 400, 3)), 0, 255).astype(np.uint8)
    else:
        yy, xx = np.mgrid[0:300, 0:400]
        image = np.stack([xx * 0.5 + 50, yy * 0.3 + 80, np.full_like(xx, 120)], axis=2).astype(np.uint8)
    assert OpenCVLocator().detect(image) == []


def test_predict_is_batched_per_image() -> None:
    a, _ = scene(background="plain")
    b = np.full((100, 100, 3), 200, np.uint8)
    results = OpenCVLocator().predict([a, b])
    assert [len(r) for r in results] == [3, 0]
