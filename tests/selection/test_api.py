"""POST /v1/selections: smart select from a box or a point, its errors, and its mask used
for inpainting."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.locator.rle import decode
from tests.factories import auth_headers, create_user, png_bytes, upload_image
from tests.photo import jpeg_bytes, render_photo

BALL_BOX = [175, 295, 425, 545]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def photo(client, user_headers):
    image, truth = render_photo(960, 640)
    uploaded = upload_image(client, user_headers, jpeg_bytes(image), "table.jpg", "image/jpeg")
    return uploaded, truth


def test_a_box_becomes_the_objects_outline_not_the_box(client, user_headers, photo):
    uploaded, truth = photo
    response = client.post("/v1/selections", headers=user_headers, json={"image_id": uploaded["id"], "box": BALL_BOX})
    assert response.status_code == 200, response.text
    body = response.json()
    mask = decode(body["mask"])
    assert mask.shape == (640, 960) and body["mask"]["size"] == [640, 960]
    assert body["area"] == int(mask.sum())
    box_area = (BALL_BOX[2] - BALL_BOX[0]) * (BALL_BOX[3] - BALL_BOX[1])
    assert mask.sum() < 0.8 * box_area  # a disc fills ~71% of its own box, less of a looser one
    assert iou(mask, truth["ball"]) > 0.85
    x1, y1, x2, y2 = BALL_BOX
    assert not mask[:y1].any() and not mask[y2:].any() and not mask[:, :x1].any() and not mask[:, x2:].any()
    ys, xs = np.nonzero(mask)
    assert body["box"] == [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    assert max(body["work_size"]) <= 400


def test_a_point_alone_selects_the_object_under_it(client, user_headers, photo):
    uploaded, truth = photo
    for point, name in (([640, 380], "mug"), ([300, 420], "ball")):
        response = client.post(
            "/v1/selections", headers=user_headers, json={"image_id": uploaded["id"], "point": point}
        )
        assert response.status_code == 200, response.text
        mask = decode(response.json()["mask"])
        assert mask[point[1], point[0]]
        assert iou(mask, truth[name]) > 0.85, name


def test_the_mask_inpaints_exactly_the_selection(client, db, settings, user_headers, photo):
    from app.seed.service import run_seed

    run_seed(db, settings)  # the models
    uploaded, _ = photo
    selected = client.post(
        "/v1/selections",
        headers=user_headers,
        json={"image_id": uploaded["id"], "box": BALL_BOX, "include_png": True},
    ).json()
    mask = decode(selected["mask"])
    png_mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(selected["png_base64"]))))
    assert np.array_equal(png_mask > 0, mask)
    job = client.post(
        "/v1/inpaintings",
        headers={**user_headers, "Prefer": "wait=20"},
        json={
            "image_id": uploaded["id"],
            "prompt": "a green tennis ball",
            "model": "opencv-telea",
            "mask": {"png_base64": selected["png_base64"]},
        },
    )
    assert job.status_code == 202, job.text
    job = job.json()
    assert job["status"] == "succeeded", job
    original = np.asarray(Image.open(io.BytesIO(client.get(uploaded["url"]).content)).convert("RGB"))
    result = np.asarray(Image.open(io.BytesIO(client.get(job["output"]["url"]).content)).convert("RGB"))
    changed = (result != original).any(axis=-1)
    assert not (changed & ~mask).any()
    assert changed[mask].mean() > 0.5


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"box": [0, 0, 961, 100]}, 422, "outside the 960x640 image"),
        ({"point": [960, 10]}, 422, "outside the 960x640 image"),
        ({"box": [100, 100, 200, 200], "point": [10, 10]}, 422, "outside the box"),
        ({"box": [200, 100, 100, 200]}, 422, "x2 > x1"),
        ({}, 422, "a box"),
        ({"box": [1, 2, 3]}, 422, ""),
        ({"box": [0, 0, 10, 10], "extra": 1}, 422, ""),
    ],
)
def test_bad_boxes_and_points_are_422(client, user_headers, photo, body, status, words):
    uploaded, _ = photo
    response = client.post("/v1/selections", headers=user_headers, json={"image_id": uploaded["id"], **body})
    assert response.status_code == status, response.text
    assert words in response.text


def test_the_whole_image_as_the_box_still_answers(client, user_headers):
    image, _ = render_photo(320, 240)
    uploaded = upload_image(client, user_headers, jpeg_bytes(image), "small.jpg", "image/jpeg")
    response = client.post(
        "/v1/selections", headers=user_headers, json={"image_id": uploaded["id"], "box": [0, 0, 320, 240]}
    )
    assert response.status_code in (200, 422), response.text  # an object, or a clear "none found"


def test_a_flat_image_has_no_object_to_find(client, user_headers):
    uploaded = upload_image(client, user_headers, png_bytes(200, 150))
    response = client.post(
        "/v1/selections", headers=user_headers, json={"image_id": uploaded["id"], "box": [40, 40, 120, 120]}
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert "no object" in response.json()["detail"]


def test_another_users_image_is_404_and_no_token_is_401(client, db, user_headers, photo):
    uploaded, _ = photo
    other = auth_headers(client, create_user(db))
    body = {"image_id": uploaded["id"], "box": BALL_BOX}
    assert client.post("/v1/selections", headers=other, json=body).status_code == 404
    assert client.post("/v1/selections", json=body).status_code == 401


def test_an_upload_not_completed_is_409(client, user_headers):
    started = client.post(
        "/v1/images/uploads", headers=user_headers, json={"content_type": "image/png", "bytes": 100}
    ).json()
    response = client.post(
        "/v1/selections", headers=user_headers, json={"image_id": started["image"]["id"], "box": [0, 0, 10, 10]}
    )
    assert response.status_code == 409, response.text
