"""POST /v1/inpaintings end to end in local mode: request → job → runner → output image."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.factories import auth_headers, create_user, upload_image
from tests.fakes.hf_endpoint import TOKEN, FakeHFEndpoint, prompt_colour
from tests.inpainting.conftest import noise_image, png


@pytest.fixture
def seeded(db, settings) -> None:
    from app.seed.service import run_seed

    run_seed(db, settings)


@pytest.fixture
def hf_configured(fake_endpoint: FakeHFEndpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHFEndpoint]:
    """The app's settings point at the fake endpoint, so "sd2-inpainting" is available."""
    from app.core.config import get_settings

    monkeypatch.setenv("HF_ENDPOINT_URL", fake_endpoint.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_MAX_ATTEMPTS", "1")  # no backoff sleeps in these tests
    get_settings.cache_clear()
    yield fake_endpoint
    monkeypatch.undo()
    get_settings.cache_clear()


def wait_for_jobs() -> None:
    from app.core.config import get_settings
    from app.jobs.dispatch import local_dispatcher

    local_dispatcher(get_settings()).wait_idle()


def submit(client, headers: dict[str, str], body: dict[str, Any], **extra: str):
    return client.post("/v1/inpaintings", json=body, headers={**headers, **extra})


def finished_job(client, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    wait_for_jobs()
    return client.get(f"/v1/jobs/{job_id}", headers=headers).json()


def output_pixels(client, job: dict[str, Any]) -> Image.Image:
    response = client.get(job["output"]["url"])
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG"
        return image.convert("RGB")


def test_box_mask_in_local_mode(client, user_headers, seeded) -> None:
    source = noise_image(300, 200)
    uploaded = upload_image(client, user_headers, png(source))
    box = [120, 60, 180, 120]
    response = submit(client, user_headers, {"image_id": uploaded["id"], "prompt": "grass", "mask": {"boxes": [box]}})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"].endswith(f"/v1/jobs/{job['id']}")
    assert job["kind"] == "inpaint" and job["model"] == "opencv-fill"  # no endpoint configured: the local default
    assert job["input"]["num_inference_steps"] == 25 and job["input"]["guidance_scale"] == 7.5

    job = finished_job(client, user_headers, job["id"])
    assert job["status"] == "succeeded", job
    out = output_pixels(client, job)
    assert out.size == source.size
    mask = np.zeros((200, 300), dtype=bool)
    mask[60:120, 120:180] = True
    a, b = np.asarray(source), np.asarray(out)
    assert np.array_equal(a[~mask], b[~mask]), "a pixel outside the mask changed"
    assert (a[mask] != b[mask]).any(axis=-1).mean() > 0.5, "the masked region did not change"

    image = client.get(f"/v1/images/{job['output']['image_id']}", headers=user_headers).json()
    assert (image["width"], image["height"], image["format"]) == (300, 200, "PNG")


def test_the_fill_runs_outside_a_database_transaction(client, user_headers, seeded, job_sessions, monkeypatch):
    """The runner's connection is back in the pool while the backend works: an SD2 call can
    take minutes, and a connection idle in a transaction meanwhile holds a snapshot open."""
    from app.inpainting.backends.opencv_fill import OpenCVFillBackend

    in_transaction_during_fill: list[bool] = []
    real_inpaint = OpenCVFillBackend.inpaint

    def inpaint(self, image, mask, params):
        in_transaction_during_fill.append(job_sessions[-1].in_transaction())
        return real_inpaint(self, image, mask, params)

    monkeypatch.setattr(OpenCVFillBackend, "inpaint", inpaint)
    uploaded = upload_image(client, user_headers, png(noise_image(64, 48)))
    response = submit(
        client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[8, 8, 24, 24]]}}
    )
    job = finished_job(client, user_headers, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert in_transaction_during_fill == [False]


def _bad_png_mask(size: tuple[int, int], fill: int = 255) -> str:
    return base64.b64encode(png(Image.new("L", size, fill))).decode()


@pytest.mark.parametrize(
    ("mask", "detail"),
    [
        ({"boxes": [[0, 0, 301, 10]]}, "outside"),
        ({"boxes": [[10, 10, 5, 20]]}, "x2 > x1"),
        ({"png_base64": _bad_png_mask((300, 200), 0)}, "empty"),
        ({"png_base64": _bad_png_mask((299, 200))}, "299x200 but the image is 300x200"),
        ({"png_base64": "not base64!"}, "base64"),
        ({"detection_ids": ["00000000-0000-0000-0000-000000000001"]}, "unknown detection ids"),
    ],
)
def test_bad_masks_are_422_and_create_no_job(client, user_headers, seeded, mask, detail) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(300, 200)))
    response = submit(client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": mask})
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert client.get("/v1/jobs", headers=user_headers).json()["items"] == []


def test_mask_needs_exactly_one_source(client, user_headers, seeded) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(30, 20)))
    for mask in [{}, {"boxes": [[0, 0, 1, 1]], "png_base64": _bad_png_mask((30, 20))}]:
        response = submit(client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": mask})
        assert response.status_code == 422
        assert "exactly one" in str(response.json()["detail"])


def test_uploaded_mask_image(client, user_headers, seeded) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(300, 200)))
    mask = Image.new("L", (300, 200), 0)
    mask.paste(255, (10, 10, 50, 50))
    mask_image = upload_image(client, user_headers, png(mask))
    response = submit(
        client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": {"image_id": mask_image["id"]}}
    )
    assert response.status_code == 202, response.text
    assert finished_job(client, user_headers, response.json()["id"])["status"] == "succeeded"

    jpeg_mask = upload_image(client, user_headers, png(mask.convert("RGB"), "JPEG"), "m.jpg", "image/jpeg")
    response = submit(
        client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": {"image_id": jpeg_mask["id"]}}
    )
    assert response.status_code == 422 and "PNG" in response.json()["detail"]


def test_someone_elses_image_is_404(client, user_headers, seeded, db) -> None:
    other = create_user(db)
    uploaded = upload_image(client, auth_headers(client, other), png(noise_image(30, 20)))
    response = submit(
        client, user_headers, {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[0, 0, 5, 5]]}}
    )
    assert response.status_code == 404


def test_parameter_ranges(client, user_headers, seeded) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(30, 20)))
    base = {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[0, 0, 5, 5]]}}
    for bad in [
        {"num_inference_steps": 0},
        {"num_inference_steps": 101},
        {"guidance_scale": 21},
        {"guidance_scale": -1},
        {"prompt": ""},
        {"model": "no-such-model"},
    ]:
        assert submit(client, user_headers, {**base, **bad}).status_code == 422, bad


def test_sd2_endpoint_4096_with_wait_and_no_cache_on_seed(client, user_headers, seeded, hf_configured) -> None:
    fake = hf_configured
    source = Image.new("RGB", (4096, 4096), (90, 120, 150))
    uploaded = upload_image(client, user_headers, png(source))
    body = {
        "image_id": uploaded["id"],
        "prompt": "a red kite",
        "seed": 7,
        "mask": {"boxes": [[3000, 500, 3060, 620]]},
        "num_inference_steps": 30,
    }
    response = submit(client, user_headers, body, Prefer="wait=20")
    job = response.json()
    assert response.status_code == 202 and job["status"] == "succeeded", job  # finished within the wait
    assert job["model"] == "sd2-inpainting"

    [request] = fake.requests
    assert request.problems == [] and max(request.image.size) <= 512
    assert "seed" not in request.body and request.body["num_inference_steps"] == 30  # the handler ignores seeds
    assert (request.body["width"], request.body["height"]) == request.image.size
    out = output_pixels(client, job)
    assert out.size == (4096, 4096)
    assert out.getpixel((3030, 560)) == prompt_colour("a red kite")
    assert out.getpixel((2999, 560)) == (90, 120, 150) and out.getpixel((0, 0)) == (90, 120, 150)

    # The endpoint ignores the seed, so the identical request is a new sample, not the cache.
    again = submit(client, user_headers, body, Prefer="wait=20").json()
    assert again["status"] == "succeeded" and not again["output"].get("cached")
    assert again["output"]["image_id"] != job["output"]["image_id"] and len(fake.requests) == 2


def test_seeded_opencv_request_reuses_the_result(client, user_headers, seeded) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(64, 64)))
    body = {
        "image_id": uploaded["id"],
        "prompt": "x",
        "seed": 3,
        "model": "opencv-telea",
        "mask": {"boxes": [[0, 0, 8, 8]]},
    }
    first = submit(client, user_headers, body, Prefer="wait=20").json()
    assert first["status"] == "succeeded", first
    again = submit(client, user_headers, body).json()
    assert again["status"] == "succeeded" and again["output"]["cached"] is True
    assert again["output"]["image_id"] == first["output"]["image_id"]


def test_no_seed_no_cache(client, user_headers, seeded, hf_configured) -> None:
    uploaded = upload_image(client, user_headers, png(noise_image(64, 64)))
    body = {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[0, 0, 8, 8]]}}
    for _ in range(2):
        assert submit(client, user_headers, body, Prefer="wait=10").json()["status"] == "succeeded"
    assert len(hf_configured.requests) == 2


def test_endpoint_rejection_fails_the_job_with_its_message(client, user_headers, seeded, hf_configured) -> None:
    hf_configured.script("400")
    uploaded = upload_image(client, user_headers, png(noise_image(64, 64)))
    body = {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[0, 0, 8, 8]]}}
    job = finished_job(client, user_headers, submit(client, user_headers, body).json()["id"])
    assert job["status"] == "failed"
    assert job["error"] == {"code": "endpoint_rejected", "message": "prompt is not allowed"}


def test_waking_endpoint_requeues_with_a_visible_message(client, user_headers, seeded, hf_configured) -> None:
    hf_configured.default = "503"
    uploaded = upload_image(client, user_headers, png(noise_image(64, 64)))
    body = {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[0, 0, 8, 8]]}}
    job = finished_job(client, user_headers, submit(client, user_headers, body).json()["id"])
    assert job["status"] == "queued" and "starting up" in job["status_message"]
    assert job["attempts"] == 0  # waiting for the endpoint is not a failed attempt


def test_a_redelivered_job_does_not_pay_for_the_endpoint_twice(client, user_headers, seeded, hf_configured, db):
    """A delivery that stored its output and died before committing it (crash, timeout,
    database error) is redelivered: the stored output is used, the endpoint not called again."""
    import uuid

    from app.core.config import get_settings
    from app.inpainting import jobs
    from app.jobs.models import Job
    from app.jobs.runner import JobContext
    from app.storage import get_storage

    uploaded = upload_image(client, user_headers, png(noise_image(96, 64)))
    body = {"image_id": uploaded["id"], "prompt": "x", "mask": {"boxes": [[8, 8, 40, 40]]}}
    done = submit(client, user_headers, body, Prefer="wait=20").json()
    assert done["status"] == "succeeded" and len(hf_configured.requests) == 1
    job = db.get(Job, uuid.UUID(done["id"]))
    context = JobContext(job=job, attempt=2, settings=get_settings(), session=db, storage=get_storage())
    again = jobs.run(context)  # what the redelivery runs
    assert again.output == {"image_id": done["output"]["image_id"]}
    assert len(hf_configured.requests) == 1
