"""Local mode with the real model: detectron2 installed, weights set, LOCATOR_DEVICE=cpu.

The local server (uvicorn on 127.0.0.1, in-process job pool) offers the Detectron2 model as the
default locator, runs it on the CPU, and a detection it finds is inpainted by its id.
"""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
from PIL import Image

from app.locator.rle import decode
from tests.detectron2.support import photo, photo_bytes


def _finished(http: httpx.Client, job: dict, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while job["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, f"job still {job['status']} after {seconds} s"
        time.sleep(0.5)
        job = http.get(f"/v1/jobs/{job['id']}").json()
    return job


def test_local_server_locates_with_detectron2_on_the_cpu_and_inpaints_a_detection(locator_env, http) -> None:
    from app.catalog.service import available_backends
    from app.core.config import get_settings

    settings = get_settings()
    assert settings.locator_device == "cpu" and not settings.is_aws
    # Without weights configured, local mode keeps the OpenCV locator even with detectron2 installed.
    assert "detectron2" not in available_backends(settings.model_copy(update={"locator_weights_uri": None}))

    models = http.get("/v1/models", params={"kind": "locate"}).json()
    assert models[0]["name"] == "detectron2-mask-rcnn"  # the kind's default, listed first

    source = photo("coffee.png")
    data = photo_bytes("coffee.png", fmt="PNG")
    uploaded = http.post("/v1/images", files={"file": ("coffee.png", data, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    image_id = uploaded.json()["id"]

    started = http.post("/v1/detections", json={"image_id": image_id, "score_threshold": 0.1})
    assert started.status_code == 202, started.text
    job = _finished(http, started.json())
    assert job["model"] == "detectron2-mask-rcnn"
    assert job["status"] == "succeeded", job
    detections = job["output"]["detections"]
    assert detections and {d["label"] for d in detections} <= {"person", "cat", "cup"}
    listed = http.get(f"/v1/images/{image_id}/detections").json()
    assert [d["id"] for d in listed["detections"]] == [d["id"] for d in detections]

    chosen = max(detections, key=lambda d: decode(d["mask"]).sum())
    region = decode(chosen["mask"])
    assert region.any()
    inpainted = http.post(
        "/v1/inpaintings",
        json={
            "image_id": image_id,
            "prompt": "a red vintage bicycle",
            "mask": {"detection_ids": [chosen["id"]], "grow_pixels": 0},
        },
    )
    assert inpainted.status_code == 202, inpainted.text
    result = _finished(http, inpainted.json(), seconds=120)
    assert result["status"] == "succeeded", result
    link = result["output"]["url"].replace("http://testserver", str(http.base_url).rstrip("/"))
    out = np.asarray(Image.open(io.BytesIO(httpx.get(link).content)).convert("RGB"))
    assert out.shape == source.shape
    assert np.array_equal(out[~region], source[~region]), "a pixel outside the detection's mask changed"
    assert (out[region] != source[region]).any(), "nothing inside the detection's mask changed"
