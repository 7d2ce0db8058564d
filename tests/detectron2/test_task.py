"""functions.locator_task with the real Detectron2 on the CPU, on photos, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.detectron2.conftest import set_env, subprocess_env
from tests.detectron2.support import photo, photo_bytes
from tests.locator.conftest import BUCKET, make_image, make_job

REPO = Path(__file__).resolve().parents[2]
MODEL = "detectron2-mask-rcnn"


def _job(db, job_id):
    from app.jobs.models import Job

    db.expire_all()
    return db.get(Job, job_id)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CountingPastes:
    """Wraps the real predictor: counts candidates and the masks that get pasted."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.candidates = 0
        self.pasted = 0

    def predict(self, images):
        results = self.predictor.predict(images)
        for detections in results:
            for detection in detections:
                self.candidates += 1
                assert detection.mask is None, "an image-sized mask was made before the score filter"
                detection.mask_patch = self._counted(detection.mask_patch)
        return results

    def _counted(self, paste):
        def counted():
            self.pasted += 1
            return paste()

        return counted


def check_detections(job: Any, rgb_shape: tuple[int, ...], threshold: float, labels: list[str] | None) -> list[dict]:
    """Boxes, COCO labels, scores and RLE masks of a succeeded locate job."""
    from detectron2.data import MetadataCatalog
    from pycocotools import mask as coco_mask

    from app.locator import rle

    coco = set(MetadataCatalog.get("coco_2017_train").thing_classes)
    height, width = rgb_shape[:2]
    assert job.status == "succeeded", (job.error_code, job.error_message)
    output = job.output
    assert (output["width"], output["height"]) == (width, height)
    detections = output["detections"]
    assert detections, "no detections: the test checkpoint should give some"
    scores = [d["score"] for d in detections]
    assert scores == sorted(scores, reverse=True) and min(scores) >= threshold
    wanted = {label.casefold() for label in labels} if labels else coco
    for rank, detection in enumerate(detections):
        assert uuid.UUID(detection["id"]) == uuid.uuid5(job.id, f"detection/{rank}")
        assert detection["label"] in coco and detection["label"].casefold() in wanted
        x1, y1, x2, y2 = detection["box"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        encoded = detection["mask"]
        assert encoded["size"] == [height, width] and isinstance(encoded["counts"], str)
        mask = rle.decode(encoded)
        # The stored RLE is COCO's own: pycocotools reads it, and writes the same string.
        theirs = coco_mask.decode({"size": encoded["size"], "counts": encoded["counts"].encode()}).astype(bool)
        assert np.array_equal(mask, theirs)
        assert coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode() == encoded["counts"]
        assert rle.encode(mask) == encoded
        outside = mask.copy()
        outside[y1:y2, x1:x2] = False
        assert not outside.any(), "mask pixels outside the box"
    assert any(rle.area(d["mask"]) > 0 for d in detections)
    return detections


def test_task_locates_objects_in_photos_with_weights_from_the_bucket(
    aws, seeded, db, user, locator_env, checkpoint, monkeypatch
) -> None:
    """Two photos, two jobs, one task: the weights come from S3 (moto) into the cache once,
    the model loads once, masks are pasted for the kept detections only, and the detections
    make an inpainting mask."""
    from app.core import aws as aws_clients
    from app.locator import predictors
    from app.locator.masks import mask_for_detections
    from app.locator.models import Detection
    from functions import locator_task

    key = "models/mask_rcnn_R_50_FPN_3x/model_random.pkl"
    aws_clients.client("s3").upload_file(str(checkpoint), BUCKET, key)
    set_env(monkeypatch, LOCATOR_WEIGHTS_URI=f"s3://{BUCKET}/{key}")
    built: list[CountingPastes] = []
    real_build = predictors.build_predictor

    def counting_build(*args, **kwargs):
        built.append(CountingPastes(real_build(*args, **kwargs)))
        return built[-1]

    monkeypatch.setattr(predictors, "build_predictor", counting_build)

    person_photo, cup_photo = photo("astronaut.png"), photo("coffee.png")
    person_image = make_image(db, user.id, photo_bytes("astronaut.png"))
    cup_image = make_image(db, user.id, photo_bytes("coffee.png", fmt="PNG"))
    everything = make_job(db, owner_id=user.id, image_id=person_image.id, model=MODEL, score_threshold=0.3)
    filtered = make_job(
        db, owner_id=user.id, image_id=cup_image.id, model=MODEL, score_threshold=0.1, labels=["Cat", "CUP"]
    )
    monkeypatch.setenv("JOB_IDS", f"{everything.id},{filtered.id}")
    assert locator_task.main([]) == 0

    found = check_detections(_job(db, everything.id), person_photo.shape, 0.3, None)
    assert "person" in {d["label"] for d in found}
    kept = check_detections(_job(db, filtered.id), cup_photo.shape, 0.1, ["Cat", "CUP"])
    assert {d["label"] for d in kept} == {"cat", "cup"}

    # One model load for both jobs, from the bucket into the cache (which mirrors the URI).
    assert len(built) == 1
    cached = Path(locator_env["LOCATOR_CACHE_DIR"]) / "s3" / BUCKET / key
    assert _sha256(cached) == _sha256(checkpoint)
    # Masks were pasted for the kept detections only, not for every candidate.
    counting = built[0]
    assert counting.pasted == len(found) + len(kept) < counting.candidates

    rows = list(db.query(Detection).filter_by(job_id=everything.id).order_by(Detection.rank))
    assert [str(row.id) for row in rows] == [d["id"] for d in found]
    assert all(row.owner_id == user.id and row.image_id == person_image.id for row in rows)

    # Inpainting from the detections: the union of their masks, at the image's size.
    from app.locator import rle

    chosen = found[:2]
    union = mask_for_detections(
        db,
        owner_id=user.id,
        image_id=person_image.id,
        detection_ids=[d["id"] for d in chosen],
        size=(person_photo.shape[1], person_photo.shape[0]),
    )
    expected = np.logical_or.reduce([rle.decode(d["mask"]) for d in chosen])
    assert np.array_equal(np.asarray(union) > 0, expected)


def test_fresh_interpreter_runs_a_job_with_weights_from_a_file_uri(db, seeded, user, checkpoint, tmp_path) -> None:
    """``python -m functions.locator_task <id>``, as the image runs it, in a new process."""
    import os

    from app.core.config import get_settings

    rgb = photo("rocket.jpg")
    image = make_image(db, user.id, photo_bytes("rocket.jpg"))
    job = make_job(db, owner_id=user.id, image_id=image.id, model=MODEL, score_threshold=0.2)
    settings = get_settings()
    env = subprocess_env(
        APP_MODE="local",
        DATABASE_URL=os.environ["DATABASE_URL"],
        STORAGE_DIR=settings.storage_dir,
        LOCATOR_WEIGHTS_URI=checkpoint.as_uri(),
        LOCATOR_DEVICE="cpu",
        LOCATOR_CACHE_DIR=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "functions.locator_task", str(job.id)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    check_detections(_job(db, job.id), rgb.shape, 0.2, None)
    assert not (tmp_path / "cache").exists()  # a file:// checkpoint is read in place


# ---------------------------------------------------------------- models that cannot load


CASES = {
    # defect 1: a checkpoint that does not fit the model
    "empty checkpoint": ({"weights": "empty"}, "does not fit the model"),
    "checkpoint of another class count": ({"weights": "fewer_classes"}, "with another shape"),
    "checkpoint without the mask head": ({"weights": "no_mask_head"}, "weights missing (e.g. roi_heads.mask_head"),
    # defect 2: load errors that are not the job's fault and will not pass by retrying
    "not a checkpoint": ({"weights": "garbage"}, "UnpicklingError"),
    "CUDA asked of a machine without it": ({"device": "cuda"}, "cannot use CUDA"),
    "weights missing from the bucket": ({"uri": f"s3://{BUCKET}/models/missing.pkl"}, "ClientError"),
    "weights host unreachable": ({"uri": "https://weights.example.invalid/model_final.pkl"}, "URLError"),
    "weights file missing": ({"uri": "/nonexistent/model_final.pkl"}, "/nonexistent/model_final.pkl"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_model_that_cannot_load_fails_its_job_model_unavailable_at_once(
    case, aws, seeded, db, user, locator_env, misfits, monkeypatch
) -> None:
    from functions import locator_task

    change, reason = CASES[case]
    if "weights" in change:
        set_env(monkeypatch, LOCATOR_WEIGHTS_URI=str(misfits[change["weights"]]))
    if "uri" in change:
        set_env(monkeypatch, LOCATOR_WEIGHTS_URI=change["uri"])
    if "device" in change:
        set_env(monkeypatch, LOCATOR_DEVICE=change["device"])
    image = make_image(db, user.id, photo_bytes("chelsea.png"))
    job = make_job(db, owner_id=user.id, image_id=image.id, model=MODEL, score_threshold=0.05)
    assert locator_task.main([str(job.id)]) == 0
    failed = _job(db, job.id)
    assert (failed.status, failed.error_code) == ("failed", "model_unavailable"), failed.error_message
    assert reason in failed.error_message
    assert failed.attempts == 1  # not retried: loading again gives the same answer
