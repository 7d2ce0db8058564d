"""Helpers for fault tests that drive a real server process over HTTP."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
from PIL import Image

JOB_SIDE = 1024  # a real photo-sized fill; tests that need it to last longer pace it (tests.paced_server)


def sign_in(client: httpx.Client, email: str, password: str) -> None:
    token = client.post("/v1/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


def upload_busy_image(client: httpx.Client) -> str:
    pixels = np.random.default_rng(5).integers(0, 256, size=(JOB_SIDE, JOB_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    response = client.post("/v1/images", files={"file": ("busy.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def submit_jobs(client: httpx.Client, image_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = {
            "image_id": image_id,
            "prompt": f"job {n}",
            "mask": {"boxes": [[200, 200, 700, 700]]},
            "model": "opencv-telea",
        }
        response = client.post("/v1/inpaintings", json=body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def wait_until(predicate, timeout: float, interval: float = 0.5, message: str = "") -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(interval)
    raise AssertionError(message or f"not true after {timeout}s")


FINAL = ("succeeded", "failed", "canceled")


def wait_all_final(client: httpx.Client, timeout: float, message: str = "") -> dict[str, tuple[str, int]]:
    """Wait until every job the signed-in user has is final; their states then."""
    wait_until(
        lambda: all(s in FINAL for s, _ in job_states(client).values()),
        timeout,
        message=message or f"jobs not final: {job_states(client)}",
    )
    return job_states(client)


def job_states(client: httpx.Client) -> dict[str, tuple[str, int]]:
    states: dict[str, tuple[str, int]] = {}
    cursor = None
    while True:
        page = client.get("/v1/jobs", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        states.update({item["id"]: (item["status"], item["attempts"]) for item in body["items"]})
        cursor = body.get("next_cursor")
        if not cursor:
            return states
