"""The hf-endpoint backend against a real HTTP server that checks the handler's contract."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from app.core.config import Settings
from app.inpainting.backends import UnknownBackend, get_backend
from app.inpainting.backends import hf_endpoint as hf
from app.inpainting.backends.base import InpaintParams
from app.inpainting.backends.hf_endpoint import HFEndpointBackend
from app.inpainting.highres import inpaint_highres
from app.inpainting.masks import mask_from_boxes
from app.jobs.errors import JobFailed, RetryLater
from tests.fakes.hf_endpoint import TOKEN, FakeHFEndpoint, prompt_colour
from tests.inpainting.conftest import noise_image, png

PARAMS = InpaintParams(prompt="a wooden bench", negative_prompt="blurry", num_inference_steps=20, guidance_scale=6.5)


@pytest.fixture
def backend(fake_endpoint: FakeHFEndpoint, sleeps: list[float]) -> HFEndpointBackend:
    return HFEndpointBackend(url=fake_endpoint.url, token=TOKEN, sleep=sleeps.append, read_timeout=5)


@pytest.fixture
def crop() -> tuple[Image.Image, Image.Image]:
    image = noise_image(512, 384)
    return image, mask_from_boxes(image.size, [[100, 100, 200, 180]])


def test_request_follows_the_contract(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: tuple[Image.Image, Image.Image]
) -> None:
    image, mask = crop
    out = backend.inpaint(image, mask, PARAMS)

    [request] = fake_endpoint.requests
    assert request.problems == [] and request.answered == "ok"
    assert request.method == "POST"
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["accept"] == "image/png"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-scale-up-timeout"] == "45"
    body = request.body
    assert body is not None
    assert body["inputs"] == "a wooden bench" and body["negative_prompt"] == "blurry"
    assert body["num_inference_steps"] == 20 and body["guidance_scale"] == 6.5
    assert "seed" not in body  # no seed: the endpoint picks one
    assert request.mask_format == "PNG" and request.mask is not None and request.image is not None
    assert request.mask.mode == "L" and request.mask.size == request.image.size == image.size
    assert np.array_equal(np.asarray(request.mask), np.asarray(mask))
    assert np.array_equal(np.asarray(request.image), np.asarray(image))  # PNG: lossless

    assert out.size == image.size
    assert out.getpixel((150, 150)) == prompt_colour("a wooden bench")
    assert out.getpixel((50, 50)) == image.getpixel((50, 50))


def test_width_and_height_are_sent_so_a_non_square_crop_is_not_stretched(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: tuple[Image.Image, Image.Image]
) -> None:
    image, _ = crop  # 512 x 384
    backend.inpaint(*crop, PARAMS)
    body = fake_endpoint.requests[0].body
    assert body is not None and (body["width"], body["height"]) == image.size == (512, 384)


def test_the_fake_answers_512_square_without_width_and_height(fake_endpoint: FakeHFEndpoint) -> None:
    """The handler's default: what a client that sends no size gets for a 512x384 crop."""
    image = noise_image(512, 384)
    body = {
        "inputs": "x",
        "image": base64.b64encode(png(image)).decode(),
        "mask_image": base64.b64encode(png(image.convert("L"))).decode(),
        "num_inference_steps": 1,
        "guidance_scale": 1.0,
        "negative_prompt": "",
    }
    headers = {"Accept": "image/png", "Authorization": f"Bearer {TOKEN}", "X-Scale-Up-Timeout": "5"}
    response = httpx.post(fake_endpoint.url, json=body, headers=headers)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (512, 512)


def test_seed_is_not_sent_and_each_answer_is_a_new_sample(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: tuple[Image.Image, Image.Image]
) -> None:
    outputs = [np.asarray(backend.inpaint(*crop, InpaintParams(prompt="p", seed=1234))) for _ in range(4)]
    assert all("seed" not in (request.body or {}) for request in fake_endpoint.requests)
    assert any(not np.array_equal(outputs[0], other) for other in outputs[1:])  # the seed fixes nothing


@pytest.mark.parametrize(
    ("content_type", "accept", "expected"),
    [
        ("application/json; charset=utf-8", "image/png", "not supported"),  # only the exact spellings
        ("text/plain", "image/png", "not supported"),
        ("application/json", "*/*", "cannot be serialised"),
        ("application/json", None, "cannot be serialised"),
    ],
)
def test_the_fake_wants_exact_content_types(
    fake_endpoint: FakeHFEndpoint, content_type: str, accept: str | None, expected: str
) -> None:
    image = noise_image(64, 64)
    body = {
        "inputs": "x",
        "image": base64.b64encode(png(image)).decode(),
        "mask_image": base64.b64encode(png(image.convert("L"))).decode(),
        "num_inference_steps": 1,
        "guidance_scale": 1.0,
        "negative_prompt": "",
        "width": 64,
        "height": 64,
    }
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}", "X-Scale-Up-Timeout": "5"}
    if accept:
        headers["Accept"] = accept
    response = httpx.post(fake_endpoint.url, content=json.dumps(body), headers=headers)
    assert response.status_code == 400 and expected in response.json()["error"]


def test_out_of_memory_400_is_retried_then_fails_with_its_reason(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.script("oom")
    backend.inpaint(*crop, PARAMS)  # one OOM, then fine
    fake_endpoint.default = "oom"
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_error" and "CUDA out of memory" in caught.value.message
    assert len(fake_endpoint.requests) == 2 + 3 and len(sleeps) == 1 + 2


def test_initialising_endpoint_holds_for_the_scale_up_timeout(fake_endpoint: FakeHFEndpoint, crop: Any) -> None:
    fake_endpoint.initialise(0.6)
    short = HFEndpointBackend(
        url=fake_endpoint.url, token=TOKEN, sleep=lambda _s: None, scale_up_timeout=0, max_attempts=1
    )
    with pytest.raises(RetryLater):
        short.inpaint(*crop, PARAMS)
    held = HFEndpointBackend(url=fake_endpoint.url, token=TOKEN, sleep=lambda _s: None, scale_up_timeout=5)
    assert held.inpaint(*crop, PARAMS).size == crop[0].size
    assert [r.answered for r in fake_endpoint.requests] == ["503-initialising", "ok"]


def test_the_fake_answers_one_request_at_a_time(fake_endpoint: FakeHFEndpoint, crop: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fake_endpoint.default = "slow"
    fake_endpoint.slow_seconds = 0.2
    backend = HFEndpointBackend(url=fake_endpoint.url, token=TOKEN, sleep=lambda _s: None, read_timeout=10)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _i: backend.inpaint(*crop, PARAMS), range(3)))
    assert fake_endpoint.max_in_flight == 1 and len(fake_endpoint.requests) == 3


def test_fake_refuses_a_jpeg_mask(fake_endpoint: FakeHFEndpoint) -> None:
    """The fake really checks: a request with a lossy mask is a contract breach."""
    image = noise_image(64, 64)
    body = {
        "inputs": "x",
        "image": base64.b64encode(png(image)).decode(),
        "mask_image": base64.b64encode(png(image, "JPEG")).decode(),
        "num_inference_steps": 1,
        "guidance_scale": 1.0,
        "negative_prompt": "",
    }
    headers = {"Accept": "image/png", "Authorization": f"Bearer {TOKEN}", "X-Scale-Up-Timeout": "5"}
    response = httpx.post(fake_endpoint.url, json=body, headers=headers)
    assert response.status_code == 400
    assert "mask_image is JPEG" in response.json()["error"]


def test_503_then_200_retries_with_backoff(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.script("503", "503")
    out = backend.inpaint(*crop, PARAMS)
    assert out.size == crop[0].size
    assert [r.answered for r in fake_endpoint.requests] == ["503", "503", "ok"]
    assert sleeps == [5.0, 10.0]


def test_still_waking_puts_the_job_back(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.default = "503"
    with pytest.raises(RetryLater) as caught:
        backend.inpaint(*crop, PARAMS)
    assert "starting up" in caught.value.message and caught.value.delay_seconds == 60
    assert len(fake_endpoint.requests) == 3 and len(sleeps) == 2


def test_429_honours_retry_after(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.retry_after = "2"
    fake_endpoint.script("429")
    backend.inpaint(*crop, PARAMS)
    assert sleeps == [2.0] and len(fake_endpoint.requests) == 2


def test_429_that_persists_puts_the_job_back(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.default = "429"
    with pytest.raises(RetryLater) as caught:
        backend.inpaint(*crop, PARAMS)
    assert "rate limiting" in caught.value.message and caught.value.delay_seconds == 1
    assert len(fake_endpoint.requests) == 3


def test_long_retry_after_is_waited_in_the_queue(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.default = "429"
    fake_endpoint.retry_after = "120"
    with pytest.raises(RetryLater) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.delay_seconds == 120
    assert len(fake_endpoint.requests) == 1 and sleeps == []


def test_400_fails_with_the_endpoints_message(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: Any
) -> None:
    fake_endpoint.script("400")
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_rejected" and caught.value.message == "prompt is not allowed"
    assert len(fake_endpoint.requests) == 1


def test_401_fails_as_unauthorized(backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: Any) -> None:
    fake_endpoint.script("401")
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_unauthorized" and TOKEN not in caught.value.message


def test_500_is_retried_then_fails(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    fake_endpoint.script("500")
    backend.inpaint(*crop, PARAMS)  # one 500, then fine
    fake_endpoint.default = "500"
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_error"
    assert "HTTP 500" in caught.value.message and "Internal Server Error" in caught.value.message
    assert len(fake_endpoint.requests) == 2 + 3


def test_too_slow_times_out_then_fails(fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any) -> None:
    backend = HFEndpointBackend(url=fake_endpoint.url, token=TOKEN, sleep=sleeps.append, read_timeout=0.3)
    fake_endpoint.default = "slow"
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_unreachable" and "ReadTimeout" in caught.value.message
    assert len(fake_endpoint.requests) == 3 and len(sleeps) == 2


def test_connection_refused_fails_as_unreachable(sleeps: list[float], crop: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = HFEndpointBackend(url=f"http://127.0.0.1:{port}/", token=TOKEN, sleep=sleeps.append, max_attempts=2)
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_unreachable" and "ConnectError" in caught.value.message


def test_a_200_that_is_not_an_image(backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: Any) -> None:
    fake_endpoint.script("garbage")
    with pytest.raises(JobFailed) as caught:
        backend.inpaint(*crop, PARAMS)
    assert caught.value.code == "bad_endpoint_response" and "not an image" in caught.value.message


def test_4096_sends_only_the_crop(backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint) -> None:
    image = Image.new("RGB", (4096, 4096), (90, 120, 150))
    mask = mask_from_boxes(image.size, [[3000, 500, 3060, 620]])
    result = inpaint_highres(image, mask, backend, PARAMS, in_place=True)
    [request] = fake_endpoint.requests
    assert request.problems == [] and request.image is not None
    assert max(request.image.size) <= 512 and request.image.size == request.mask.size  # type: ignore[union-attr]
    assert result.image.size == (4096, 4096)
    assert result.image.getpixel((3030, 560)) == prompt_colour(PARAMS.prompt)
    assert result.image.getpixel((2999, 560)) == (90, 120, 150)


def test_token_and_image_never_reach_the_logs(
    backend: HFEndpointBackend, fake_endpoint: FakeHFEndpoint, crop: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_endpoint.script("503", "400")
    with caplog.at_level(logging.DEBUG), pytest.raises(JobFailed):
        backend.inpaint(*crop, PARAMS)
    encoded = base64.b64encode(png(crop[0])).decode()[:40]
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert TOKEN not in text and encoded not in text
    assert TOKEN not in repr(backend)


# --- waking the endpoint by name (huggingface_hub is replaced: tests never reach the Hub) ----


class FakeHubEndpoint:
    def __init__(self, status: str, url: str | None) -> None:
        self.status, self.url, self.resumed = status, url, 0

    def resume(self, running_ok: bool = True) -> FakeHubEndpoint:
        self.resumed += 1
        return self


def named_backend(
    monkeypatch: pytest.MonkeyPatch, hub: FakeHubEndpoint | Exception, url: str | None, sleeps: list[float]
) -> HFEndpointBackend:
    seen: list[tuple[str, str | None, str | None]] = []

    def fetch(name: str, namespace: str | None, token: str | None) -> FakeHubEndpoint:
        seen.append((name, namespace, token))
        if isinstance(hub, Exception):
            raise hub
        return hub

    monkeypatch.setattr(hf, "fetch_endpoint", fetch)
    return HFEndpointBackend(url=url, token=TOKEN, endpoint_name="sd2-inpaint", namespace="team", sleep=sleeps.append)


def test_paused_endpoint_is_resumed_and_the_job_waits(
    monkeypatch: pytest.MonkeyPatch, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    hub = FakeHubEndpoint("paused", None)
    with pytest.raises(RetryLater) as caught:
        named_backend(monkeypatch, hub, fake_endpoint.url, sleeps).inpaint(*crop, PARAMS)
    assert hub.resumed == 1 and "resumed" in caught.value.message
    assert fake_endpoint.requests == []


@pytest.mark.parametrize("status", ["initializing", "pending", "updating"])
def test_starting_endpoint_makes_the_job_wait(
    monkeypatch: pytest.MonkeyPatch, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any, status: str
) -> None:
    with pytest.raises(RetryLater, match=status):
        named_backend(monkeypatch, FakeHubEndpoint(status, None), fake_endpoint.url, sleeps).inpaint(*crop, PARAMS)


def test_failed_endpoint_fails_the_job(
    monkeypatch: pytest.MonkeyPatch, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    with pytest.raises(JobFailed) as caught:
        named_backend(monkeypatch, FakeHubEndpoint("failed", None), fake_endpoint.url, sleeps).inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_unavailable"


def test_scaled_to_zero_is_woken_by_the_request_at_the_hub_url(
    monkeypatch: pytest.MonkeyPatch, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    hub = FakeHubEndpoint("scaledToZero", fake_endpoint.url)
    named_backend(monkeypatch, hub, None, sleeps).inpaint(*crop, PARAMS)
    assert hub.resumed == 0 and len(fake_endpoint.requests) == 1


def test_hub_api_down_still_calls_the_configured_url(
    monkeypatch: pytest.MonkeyPatch, fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any
) -> None:
    named_backend(monkeypatch, RuntimeError("hub down"), fake_endpoint.url, sleeps).inpaint(*crop, PARAMS)
    assert len(fake_endpoint.requests) == 1


def test_nothing_configured_fails_the_job(crop: Any) -> None:
    with pytest.raises(JobFailed) as caught:
        HFEndpointBackend(url=None, token=TOKEN).inpaint(*crop, PARAMS)
    assert caught.value.code == "endpoint_not_configured"


# --- by name, from settings ------------------------------------------------------------------


def test_get_backend_from_settings(fake_endpoint: FakeHFEndpoint, crop: Any) -> None:
    settings = Settings(hf_endpoint_url=fake_endpoint.url, hf_token=TOKEN, hf_scale_up_timeout=30, hf_read_timeout=9)
    backend = get_backend("hf-endpoint", settings)
    assert isinstance(backend, HFEndpointBackend) and backend.read_timeout == 9
    backend.inpaint(*crop, PARAMS)
    assert fake_endpoint.requests[0].headers["X-Scale-Up-Timeout"] == "30"
    assert get_backend("opencv", settings).name == "opencv"
    with pytest.raises(UnknownBackend):
        get_backend("dall-e", settings)


def test_response_png_decodes_any_mode(backend: HFEndpointBackend) -> None:
    """A handler returning RGBA or palette PNGs still yields RGB."""
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 255)).save(buffer, format="PNG")
    response = httpx.Response(200, content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert hf._decode_png(response).mode == "RGB"


def test_no_retry_that_would_overrun_the_budget(fake_endpoint: FakeHFEndpoint, sleeps: list[float], crop: Any) -> None:
    """Each clock reading moves 30 s on: after one 503 another try (5 s wait + 80 s read
    timeout) would end past the 100 s budget, so the job goes back to the queue at once."""
    ticks = iter(range(0, 10_000, 30))
    backend = HFEndpointBackend(
        url=fake_endpoint.url,
        token=TOKEN,
        sleep=sleeps.append,
        read_timeout=80,
        budget_seconds=100,
        clock=lambda: float(next(ticks)),
    )
    fake_endpoint.default = "503"
    with pytest.raises(RetryLater):
        backend.inpaint(*crop, PARAMS)
    assert len(fake_endpoint.requests) == 1 and sleeps == []
