"""The OpenCV locator on small synthetic scenes (real photos: bench/locator_quality.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.locator.predictors.opencv import OpenCVLocator, thin_out
from tests.locator.shapes import iou, match, scene


@pytest.mark.parametrize("background", ["plain", "noisy", "textured"])
def test_the_three_shapes_are_ranked_among_the_proposals(background: str) -> None:
    image, truth = scene(240, 180, background=background)
    detections = OpenCVLocator().detect(image)
    assert 3 <= len(detections) <= 10
    assert min(match([d.box for d in detections], truth)) >= 0.8, [(d.box, d.score) for d in detections]
    # Whole objects outrank fragments: the rectangle and the circle are the two best proposals.
    assert max(iou(detections[0].box, t) for t in truth[:2]) >= 0.8
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0 and min(scores) > 0
    for detection in detections:
        assert detection.label == "object"
        assert detection.mask is not None and detection.mask.shape == image.shape[:2]
        x1, y1, x2, y2 = detection.box
        assert detection.mask[y1:y2, x1:x2].sum() == detection.mask.sum() > 0  # the mask lies in its box


def test_masks_follow_the_object() -> None:
    image, truth = scene(240, 180, background="noisy")
    detections = OpenCVLocator().detect(image)
    circle_box = truth[1]
    circle = max(detections, key=lambda d: iou(d.box, circle_box))
    yy, xx = np.mgrid[0:180, 0:240]
    cx, cy = (circle_box[0] + circle_box[2] - 1) / 2, (circle_box[1] + circle_box[3] - 1) / 2
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= ((circle_box[2] - circle_box[0]) / 2) ** 2
    overlap = (circle.mask & disc).sum() / (circle.mask | disc).sum()
    assert overlap >= 0.8  # a disc, not its box (a box would score pi/4 = 0.79 at best)


def test_large_image_is_worked_on_small_and_answered_at_full_size() -> None:
    image, truth = scene(960, 720, background="plain")
    detections = OpenCVLocator(max_side=192).detect(image)
    assert min(match([d.box for d in detections], truth)) >= 0.8
    assert all(d.mask.shape == (720, 960) for d in detections)
    assert all(0 <= d.box[0] < d.box[2] <= 960 and 0 <= d.box[1] < d.box[3] <= 720 for d in detections)


def test_deterministic() -> None:
    image, _ = scene(240, 180, background="textured")
    first, second = OpenCVLocator().detect(image), OpenCVLocator().detect(image.copy())
    assert [(d.box, d.score) for d in first] == [(d.box, d.score) for d in second]
    assert all((a.mask == b.mask).all() for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("kind", ["blank", "noise", "tiny"])
def test_nothing_to_find(kind: str) -> None:
    rng = np.random.default_rng(1)
    if kind == "blank":
        image = np.full((150, 200, 3), 128, np.uint8)
    elif kind == "noise":
        image = np.clip(128 + rng.normal(0, 25, (300, 400, 3)), 0, 255).astype(np.uint8)
    else:
        image = np.zeros((5, 7, 3), np.uint8)
    assert OpenCVLocator().detect(image) == []


def test_max_detections_and_masks_off() -> None:
    image, _ = scene(240, 180, background="textured")
    detections = OpenCVLocator(max_detections=2, masks=False).detect(image)
    assert len(detections) == 2 and all(d.mask is None for d in detections)


def test_predict_is_batched_per_image() -> None:
    a, _ = scene(240, 180, background="plain")
    b = np.full((100, 100, 3), 200, np.uint8)
    results = OpenCVLocator().predict([a, b])
    assert len(results[0]) >= 3 and results[1] == []


def test_rejects_a_grey_array() -> None:
    with pytest.raises(ValueError):
        OpenCVLocator().detect(np.zeros((50, 50), np.uint8))


def test_thin_out_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = [(0, 0, 10, 10), (1, 1, 11, 11), (20, 20, 30, 30)]
    assert thin_out(boxes, np.array([0.5, 0.9, 0.1]), 0.4, 10) == [1, 2]
    assert thin_out(boxes, np.array([0.5, 0.9, 0.1]), 0.4, 1) == [1]


@pytest.mark.parametrize("photo", ["astronaut", "chelsea"])
def test_finds_the_main_objects_of_a_real_photo(photo: str) -> None:
    """The issue's case: on the astronaut portrait the person, the helmet and the shuttle model
    (and the flag) are among the ten proposals, not only fragments. Labels: bench/data."""
    import json
    from pathlib import Path

    import skimage.data

    labels = json.loads((Path(__file__).parents[2] / "bench" / "data" / "locator_labels.json").read_text())
    truth = [item["box"] for item in labels["images"][photo]]
    image = np.ascontiguousarray(getattr(skimage.data, photo)()[..., :3])
    detections = OpenCVLocator().detect(image)
    assert len(detections) <= 10
    assert min(match([d.box for d in detections], truth)) >= 0.5, [(d.box, d.score) for d in detections]
