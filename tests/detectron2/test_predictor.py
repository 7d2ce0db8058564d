"""The adapter against detectron2 itself: same answers as DefaultPredictor, compact masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.detectron2.support import CONFIG, photo


@pytest.fixture(scope="module")
def predictor(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    from app.locator.predictors.detectron2 import Detectron2Predictor

    return Detectron2Predictor(
        config_name=CONFIG,
        weights_uri=str(checkpoint),
        device="cpu",
        cache_dir=str(tmp_path_factory.mktemp("cache")),
    )


def test_equals_default_predictor_bit_for_bit_with_images_of_two_sizes_in_one_call(predictor) -> None:
    """Labels, scores, boxes and masks are DefaultPredictor's, also when one call carries photos
    of different sizes (no batch padding changes them)."""
    from detectron2.engine import DefaultPredictor

    images = [photo("astronaut.png"), photo("rocket.jpg")]
    assert images[0].shape != images[1].shape
    ours = predictor.predict(images)
    reference = DefaultPredictor(predictor.cfg.clone())
    for rgb, found in zip(images, ours, strict=True):
        height, width = rgb.shape[:2]
        expected = reference(np.ascontiguousarray(rgb[:, :, ::-1]))["instances"].to("cpu")  # it takes BGR
        assert len(found) == len(expected) > 0
        boxes = expected.pred_boxes.tensor.numpy()
        for detection, box, score, cls, mask in zip(
            found,
            boxes,
            expected.scores.tolist(),
            expected.pred_classes.tolist(),
            expected.pred_masks.numpy(),
            strict=True,
        ):
            assert detection.label == predictor.class_names[cls]
            assert detection.score == score
            x1, y1, x2, y2 = box.tolist()
            assert detection.box == (
                max(0, int(np.floor(x1))),
                max(0, int(np.floor(y1))),
                min(width, int(np.ceil(x2))),
                min(height, int(np.ceil(y2))),
            )
            assert np.array_equal(detection.full_mask(height, width), mask)


def test_masks_are_compact_and_pasted_inside_their_box(predictor) -> None:
    rgb = photo("coffee.png")
    height, width = rgb.shape[:2]
    (found,) = predictor.predict([rgb])
    assert found
    labels = {d.label for d in found}
    assert labels <= set(predictor.class_names) and "person" in labels
    for detection in found:
        # Nothing image-sized is held per detection: the 28x28 mask is pasted on demand.
        assert detection.mask is None and detection.mask_patch is not None
        _, _, patch = detection.mask_patch()
        x1, y1, x2, y2 = detection.box
        assert patch.dtype == bool and patch.shape[0] <= y2 - y1 + 2 and patch.shape[1] <= x2 - x1 + 2
        full = detection.full_mask(height, width)
        inside = np.zeros_like(full)
        inside[y1:y2, x1:x2] = True
        assert not (full & ~inside).any(), "a mask pixel lies outside its box"


def test_predictor_holds_the_class_names_of_coco(predictor) -> None:
    assert len(predictor.class_names) == predictor.cfg.MODEL.ROI_HEADS.NUM_CLASSES == 80
    assert predictor.class_names[:3] == ["person", "bicycle", "car"]
