"""Issue 4's flow over real HTTP in local mode: find three drawn objects, then inpaint one of
them by its detection id, and nothing else changes."""

from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image

from app.locator.rle import decode
from tests.locator.shapes import iou, png, scene


def test_detect_three_objects_then_inpaint_one_by_detection_id(http):
    source, truth = scene(480, 360, background="textured")
    uploaded = http.post("/v1/images", files={"file": ("scene.png", png(source), "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    image_id = uploaded.json()["id"]

    located = http.post("/v1/detections", json={"image_id": image_id}, headers={"Prefer": "wait=20"})
    assert located.status_code == 202, located.text
    job = located.json()
    assert job["status"] == "succeeded", job
    detections = job["output"]["detections"]
    assert 3 <= len(detections) <= 10  # ranked proposals: the three shapes among them
    best = [max(detections, key=lambda d, t=t: iou(d["box"], t)) for t in truth]
    assert all(iou(d["box"], t) >= 0.8 for d, t in zip(best, truth, strict=True))

    circle = best[1]
    inpainted = http.post(
        "/v1/inpaintings",
        json={
            "image_id": image_id,
            "prompt": "a red vintage bicycle",
            "mask": {"detection_ids": [circle["id"]], "grow_pixels": 0},  # exactly the object's mask
        },
        headers={"Prefer": "wait=20"},
    )
    assert inpainted.status_code == 202, inpainted.text
    result = inpainted.json()
    assert result["status"] == "succeeded", result
    link = result["output"]["url"].replace("http://testserver", str(http.base_url).rstrip("/"))
    out = np.asarray(Image.open(io.BytesIO(httpx.get(link).content)).convert("RGB"))
    assert out.shape == source.shape

    region = decode(circle["mask"]).astype(bool)
    assert np.array_equal(out[~region], source[~region]), "a pixel outside the chosen object changed"
    assert (out[region] != source[region]).any(axis=-1).mean() > 0.5, "the chosen object did not change"
    for other in (best[0], best[2]):  # the other two objects are untouched
        x1, y1, x2, y2 = other["box"]
        assert np.array_equal(out[y1:y2, x1:x2], source[y1:y2, x1:x2])

    # By default the mask grows by a few pixels to cover the object's anti-aliased edge:
    # changes reach just past the mask, and never past its box grown by that much.
    grown = http.post(
        "/v1/inpaintings",
        json={"image_id": image_id, "prompt": "a red vintage bicycle", "mask": {"detection_ids": [circle["id"]]}},
        headers={"Prefer": "wait=20"},
    ).json()
    assert grown["status"] == "succeeded", grown
    link = grown["output"]["url"].replace("http://testserver", str(http.base_url).rstrip("/"))
    out = np.asarray(Image.open(io.BytesIO(httpx.get(link).content)).convert("RGB"))
    changed = (out != source).any(axis=-1)
    assert (changed & ~region).any(), "the default growth did not reach past the mask"
    x1, y1, x2, y2 = circle["box"]
    allowed = np.zeros_like(changed)
    allowed[max(0, y1 - 3) : y2 + 3, max(0, x1 - 3) : x2 + 3] = True
    assert not (changed & ~allowed).any()
