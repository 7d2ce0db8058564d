"""Local mode over HTTP: the in-process pool runs the OpenCV locator."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.factories import auth_headers, create_user, upload_image
from tests.locator.shapes import match, png, scene

WAIT = {"Prefer": "wait=15"}


@pytest.fixture
def shapes_image(client, user_headers, seeded) -> tuple[dict, list]:
    image, truth = scene(480, 360, background="noisy")
    return upload_image(client, user_headers, png(image)), truth


def test_three_objects_found_and_listed(client, user_headers, shapes_image) -> None:
    uploaded, truth = shapes_image
    response = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers={**user_headers, **WAIT})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/jobs/{response.json()['id']}"
    job = response.json()
    assert job["kind"] == "locate" and job["model"] == "opencv-locator"
    assert job["status"] == "succeeded", job
    output = job["output"]
    assert (output["width"], output["height"]) == (480, 360)
    boxes = [d["box"] for d in output["detections"]]
    assert 3 <= len(boxes) <= 10  # ranked proposals: the shapes among them
    assert min(match(boxes, truth)) >= 0.75  # in this noise the triangle's thin apex may be cut off
    for detection in output["detections"]:
        assert detection["label"] == "object" and detection["score"] >= 0.1  # the model's default threshold
        assert detection["mask"]["size"] == [360, 480] and isinstance(detection["mask"]["counts"], str)
        uuid.UUID(detection["id"])

    listed = client.get(f"/v1/images/{uploaded['id']}/detections", headers=user_headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["job_id"] == job["id"] and body["model"] == "opencv-locator"
    assert [d["id"] for d in body["detections"]] == [d["id"] for d in output["detections"]]
    assert body["detections"] == output["detections"]
    no_masks = client.get(f"/v1/images/{uploaded['id']}/detections?masks=false", headers=user_headers).json()
    assert all(d["mask"] is None for d in no_masks["detections"])


def test_the_model_runs_outside_a_database_transaction(client, user_headers, shapes_image, job_sessions, monkeypatch):
    """The runner's connection is back in the pool while the model runs (Detectron2 on a GPU
    task can take a while; a connection idle in a transaction meanwhile holds a snapshot open)."""
    from app.locator.predictors.opencv import OpenCVLocator

    in_transaction_during_predict: list[bool] = []
    real_predict = OpenCVLocator.predict

    def predict(self, images):
        in_transaction_during_predict.append(job_sessions[-1].in_transaction())
        return real_predict(self, images)

    monkeypatch.setattr(OpenCVLocator, "predict", predict)
    uploaded, _ = shapes_image
    job = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers={**user_headers, **WAIT}).json()
    assert job["status"] == "succeeded" and len(job["output"]["detections"]) >= 3, job
    assert in_transaction_during_predict == [False]


def test_latest_job_wins_even_when_it_found_nothing(client, user_headers, shapes_image) -> None:
    uploaded, _ = shapes_image
    first = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers={**user_headers, **WAIT}).json()
    assert len(first["output"]["detections"]) >= 3
    second = client.post(
        "/v1/detections", json={"image_id": uploaded["id"], "labels": ["person"]}, headers={**user_headers, **WAIT}
    ).json()
    assert second["status"] == "succeeded" and second["output"]["detections"] == []
    listed = client.get(f"/v1/images/{uploaded['id']}/detections", headers=user_headers).json()
    assert listed["job_id"] == second["id"] and listed["detections"] == []


def test_threshold_and_labels_are_applied(client, user_headers, shapes_image) -> None:
    uploaded, _ = shapes_image
    strict = client.post(
        "/v1/detections",
        json={"image_id": uploaded["id"], "score_threshold": 1.0, "labels": ["Object"]},
        headers={**user_headers, **WAIT},
    ).json()
    # Scores are relative to the photo's best proposal, which alone scores 1.0.
    assert strict["input"]["score_threshold"] == 1.0 and len(strict["output"]["detections"]) == 1
    kept = client.post(
        "/v1/detections", json={"image_id": uploaded["id"], "labels": ["OBJECT"]}, headers={**user_headers, **WAIT}
    ).json()
    assert len(kept["output"]["detections"]) >= 3


def test_idempotency_key_replays_the_job(client, user_headers, shapes_image) -> None:
    uploaded, _ = shapes_image
    headers = {**user_headers, "Idempotency-Key": "locate-1"}
    first = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers=headers)
    again = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/detections", json={"image_id": uploaded["id"], "score_threshold": 0.9}, headers=headers)
    assert other.status_code == 409


def test_owner_only(client, db, user_headers, shapes_image) -> None:
    uploaded, _ = shapes_image
    client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers={**user_headers, **WAIT})
    stranger = auth_headers(client, create_user(db))
    assert client.get(f"/v1/images/{uploaded['id']}/detections", headers=stranger).status_code == 404
    response = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers=stranger)
    assert response.status_code == 404
    assert client.get(f"/v1/images/{uuid.uuid4()}/detections", headers=user_headers).status_code == 404
    assert client.get(f"/v1/images/{uploaded['id']}/detections").status_code == 401


def test_no_job_yet_lists_nothing(client, user_headers, shapes_image) -> None:
    uploaded, _ = shapes_image
    body = client.get(f"/v1/images/{uploaded['id']}/detections", headers=user_headers).json()
    assert body["job_id"] is None and body["detections"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"score_threshold": 1.5},
        {"score_threshold": -0.1},
        {"labels": []},
        {"labels": [""]},
        {"unexpected": 1},
        {"model": "no-such-model"},
        {"model": "detectron2-mask-rcnn"},  # not available without LOCATOR_CLUSTER
    ],
)
def test_invalid_requests(client, user_headers, shapes_image, body) -> None:
    uploaded, _ = shapes_image
    response = client.post("/v1/detections", json={"image_id": uploaded["id"], **body}, headers=user_headers)
    assert response.status_code == 422, response.text


def test_detection_ids_make_an_inpainting_mask(client, db, user, user_headers, shapes_image) -> None:
    from app.locator.masks import DetectionMaskError, UnknownDetections, mask_for_detections

    uploaded, _ = shapes_image
    job = client.post("/v1/detections", json={"image_id": uploaded["id"]}, headers={**user_headers, **WAIT}).json()
    detections = job["output"]["detections"]
    image_id = uuid.UUID(uploaded["id"])

    one = mask_for_detections(
        db, owner_id=user.id, image_id=image_id, detection_ids=[detections[0]["id"]], size=(480, 360)
    )
    assert one.mode == "L" and one.size == (480, 360)
    pixels = np.asarray(one) > 0
    x1, y1, x2, y2 = detections[0]["box"]
    assert pixels.any() and not pixels[:, :x1].any() and not pixels[:, x2:].any()
    assert not pixels[:y1].any() and not pixels[y2:].any()

    both = (
        np.asarray(
            mask_for_detections(
                db,
                owner_id=user.id,
                image_id=image_id,
                detection_ids=[d["id"] for d in detections[:2]],
                size=(480, 360),
            )
        )
        > 0
    )
    assert both.sum() > pixels.sum() and (both | pixels).sum() == both.sum()

    grown = (
        np.asarray(
            mask_for_detections(
                db,
                owner_id=user.id,
                image_id=image_id,
                detection_ids=[detections[0]["id"]],
                size=(480, 360),
                grow_pixels=4,
            )
        )
        > 0
    )
    assert grown.sum() > pixels.sum() and (grown | pixels).sum() == grown.sum()

    half = mask_for_detections(
        db, owner_id=user.id, image_id=image_id, detection_ids=[detections[0]["id"]], size=(240, 180)
    )
    assert half.size == (240, 180) and abs((np.asarray(half) > 0).sum() * 4 - pixels.sum()) < 0.05 * pixels.sum()

    with pytest.raises(UnknownDetections) as unknown:
        mask_for_detections(db, owner_id=user.id, image_id=image_id, detection_ids=[str(uuid.uuid4())], size=(480, 360))
    assert "unknown detection ids" in unknown.value.message
    with pytest.raises(LookupError):  # another user's ids are unknown to this one
        mask_for_detections(
            db, owner_id=create_user(db).id, image_id=image_id, detection_ids=[detections[0]["id"]], size=(480, 360)
        )
    other_image = upload_image(client, user_headers, png(scene(200, 150, background="plain")[0]))
    with pytest.raises(DetectionMaskError, match="another image"):
        mask_for_detections(
            db,
            owner_id=user.id,
            image_id=uuid.UUID(other_image["id"]),
            detection_ids=[detections[0]["id"]],
            size=(200, 150),
        )
    for bad in ([], ["not-a-uuid"]):
        with pytest.raises(ValueError):
            mask_for_detections(db, owner_id=user.id, image_id=image_id, detection_ids=bad, size=(480, 360))


def test_box_only_detection_makes_a_box_mask(db, user, seeded) -> None:
    from app.jobs.models import JobStatus
    from app.locator.masks import mask_for_detections
    from app.locator.models import Detection
    from tests.factories import png_bytes
    from tests.locator.conftest import make_image, make_job

    image = make_image(db, user.id, png_bytes(100, 80))
    job = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    job.status = JobStatus.SUCCEEDED
    job.output = {"width": 100, "height": 80, "detections": []}
    detection = Detection(
        id=uuid.uuid4(),
        job_id=job.id,
        image_id=image.id,
        owner_id=user.id,
        rank=0,
        label="dog",
        score=0.9,
        x1=10,
        y1=20,
        x2=30,
        y2=50,
        mask=None,
    )
    db.add(detection)
    db.commit()
    mask = (
        np.asarray(
            mask_for_detections(db, owner_id=user.id, image_id=image.id, detection_ids=[detection.id], size=(100, 80))
        )
        > 0
    )
    expected = np.zeros((80, 100), bool)
    expected[20:50, 10:30] = True
    assert (mask == expected).all()
