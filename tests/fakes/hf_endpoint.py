"""A fake Stable Diffusion 2 inpainting endpoint: a real HTTP server on 127.0.0.1.

It behaves like philschmid/stable-diffusion-2-inpainting-endpoint served by
huggingface-inference-toolkit (docs/hf-endpoint-fake.md: each behaviour and its source), and
never more leniently:

- Content-Type must be one the toolkit knows, exactly ("application/json" or
  "application/json; charset=UTF-8"); Accept must be an image type (none or */* means JSON,
  which cannot carry the image). Anything else is a 400 ``{"error": ...}``, as is every other
  handler exception: the toolkit turns ALL of them into 400.
- ``width``/``height`` are taken from the body, default 512x512, must be divisible by 8; the
  output has that size whatever the input's shape (the pipeline resizes the input to it).
- ``seed`` is ignored: each answer is a new sample (a random pixel in the masked area).
- One request at a time (the toolkit's MAX_CONCURRENT_THREADS = 1); others wait.
- ``fake.initialise(seconds)`` puts it in the "initialising" state (scaled to zero): requests
  are held up to their ``X-Scale-Up-Timeout`` and answered 503 if it has not finished by then.

A request that breaks the contract gets a 400 ``{"error": "contract: ..."}`` and its
``problems`` listed. A good request gets a PNG: the image (resized to width x height) with the
masked pixels painted in a colour derived from the prompt's sha256, but for one random pixel.

Faults are scripted: ``fake.script("503", "503")`` answers the next two requests with 503,
then falls back to ``fake.default`` ("ok"). Behaviours: ok, 503, 429, 400, 401, 500, slow,
garbage, oom (the handler's CUDA out-of-memory, a 400 like every handler exception).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageChops

TOKEN = "hf_fake_token_for_tests"
PATH = "/"
MODEL_MAX_SIDE = 512
DEFAULT_SIZE = 512  # the pipeline's default width and height (unet sample size x VAE factor)
BEHAVIOURS = {"ok", "503", "429", "400", "401", "500", "slow", "garbage", "oom"}
# huggingface_inference_toolkit.serialization.base.content_type_mapping (the JSON and image keys)
JSON_CONTENT_TYPES = {"application/json", "application/json; charset=UTF-8"}
IMAGE_ACCEPTS = {"image/png", "image/jpeg", "image/jpg", "image/tiff", "image/bmp", "image/gif", "image/webp"}
OOM_MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.58 GiB total capacity)"
REQUIRED_FIELDS = {"inputs", "image", "mask_image", "num_inference_steps", "guidance_scale", "negative_prompt"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    image: Image.Image | None = None
    mask: Image.Image | None = None
    mask_format: str | None = None
    problems: list[str] = field(default_factory=list)
    answered: str = ""


def prompt_colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def _decode(value: Any, what: str, problems: list[str]) -> tuple[Image.Image | None, str | None]:
    if not isinstance(value, str):
        problems.append(f"{what} must be a base64 string")
        return None, None
    try:
        raw = base64.b64decode(value, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            return image.copy(), image.format
    except (binascii.Error, ValueError, OSError) as exc:
        problems.append(f"{what} is not a base64 image: {exc}")
        return None, None


class FakeHFEndpoint:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.default = "ok"
        self.retry_after = "1"
        self.error_message = "prompt is not allowed"
        self.slow_seconds = 2.0
        self._plan: deque[str] = deque()
        self._lock = threading.Lock()
        self._inference = threading.Lock()  # one request at a time, like the toolkit
        self._ready_at = 0.0  # time.monotonic() when an "initialising" endpoint is up
        self.max_in_flight = 0
        # Holds (X-Scale-Up-Timeout) last this fraction of their real length: the AWS-in-a-box
        # run keeps the template's 45 s without waiting 45 s per request.
        self.hold_scale = 1.0
        self._in_flight = 0
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def start(self) -> FakeHFEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cut short any "slow" answer still sleeping
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *behaviours: str) -> None:
        unknown = set(behaviours) - BEHAVIOURS
        assert not unknown, f"unknown behaviours {unknown}"
        with self._lock:
            self._plan.extend(behaviours)

    def initialise(self, seconds: float) -> None:
        """Scaled to zero: the next ``seconds`` the endpoint is starting (503 unless held)."""
        self._ready_at = time.monotonic() + seconds

    def _wait_until_ready(self, headers: dict[str, str]) -> bool:
        """The proxy holds a request up to X-Scale-Up-Timeout while a replica starts."""
        remaining = self._ready_at - time.monotonic()
        if remaining <= 0:
            return True
        hold = headers.get("x-scale-up-timeout", "")
        hold_seconds = float(hold) if hold.isdigit() else 0.0
        if hold_seconds >= remaining:
            self._stopping.wait(remaining * self.hold_scale)
            return True
        self._stopping.wait(hold_seconds * self.hold_scale)
        return False

    def _next_behaviour(self) -> str:
        with self._lock:
            return self._plan.popleft() if self._plan else self.default

    # --- checking the contract -------------------------------------------------------------

    def check(self, record: Recorded) -> None:
        problems = record.problems
        headers = {key.lower(): value for key, value in record.headers.items()}
        if record.method != "POST":
            problems.append(f"method {record.method}, expected POST")
        if record.path != PATH:
            problems.append(f"path {record.path}, expected {PATH}")
        if headers.get("content-type") not in JSON_CONTENT_TYPES:
            problems.append(f'Content type "{headers.get("content-type")}" not supported')
        if headers.get("accept") not in IMAGE_ACCEPTS:
            # None and */* mean JSON, which cannot serialise the pipeline's image.
            problems.append(f"Accept {headers.get('accept')!r}: the image cannot be serialised to it")
        elif headers.get("accept") != "image/png":
            problems.append(f"Accept {headers.get('accept')!r}, expected 'image/png' (lossless)")
        if headers.get("authorization") != f"Bearer {self.token}":
            problems.append("Authorization is not the expected bearer token")
        if not headers.get("x-scale-up-timeout", "").isdigit():
            problems.append("X-Scale-Up-Timeout missing or not a number of seconds")
        body = record.body
        if not isinstance(body, dict):
            problems.append("body is not a JSON object")
            return
        missing = REQUIRED_FIELDS - set(body)
        if missing:
            problems.append(f"missing fields {sorted(missing)}")
        if not isinstance(body.get("inputs"), str) or not body.get("inputs"):
            problems.append("inputs must be the prompt, a non-empty string")
        if not isinstance(body.get("num_inference_steps"), int):
            problems.append("num_inference_steps must be an integer")
        if not isinstance(body.get("guidance_scale"), (int, float)):
            problems.append("guidance_scale must be a number")
        for side in ("width", "height"):
            value = body.get(side, DEFAULT_SIZE)
            if not isinstance(value, int) or value <= 0 or value % 8:
                problems.append(
                    "`height` and `width` have to be divisible by 8 "
                    f"but are {body.get('height')} and {body.get('width')}."
                )
                break
        record.image, image_format = _decode(body.get("image"), "image", problems)
        record.mask, record.mask_format = _decode(body.get("mask_image"), "mask_image", problems)
        if image_format and image_format != "PNG":
            problems.append(f"image is {image_format}, expected PNG")
        if record.mask_format and record.mask_format != "PNG":
            problems.append(f"mask_image is {record.mask_format}, expected PNG")
        if record.image and record.mask and record.image.size != record.mask.size:
            problems.append(f"mask is {record.mask.size}, image is {record.image.size}")
        if record.image and max(record.image.size) > MODEL_MAX_SIDE:
            problems.append(f"image is {record.image.size}, larger than {MODEL_MAX_SIDE} px a side")

    def render(self, record: Recorded) -> bytes:
        assert record.image is not None and record.mask is not None and record.body is not None
        # The pipeline works at width x height (default 512x512) whatever the input's shape.
        size = (int(record.body.get("width", DEFAULT_SIZE)), int(record.body.get("height", DEFAULT_SIZE)))
        image = record.image.convert("RGB").resize(size)
        fill = Image.new("RGB", size, prompt_colour(record.body["inputs"]))
        binary = record.mask.convert("L").resize(size).point(lambda v: 255 if v else 0)
        # A new sample every time ("seed" is ignored): one random pixel of the masked area.
        box = binary.getbbox()
        if box:
            fill.putpixel((box[0], box[1]), tuple(random.randrange(256) for _ in range(3)))
        out = ImageChops.composite(fill, image, binary)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG")
        return buffer.getvalue()

    # --- the server ------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                record = Recorded(self.command, self.path, dict(self.headers.items()), body)
                fake.check(record)
                with fake._lock:
                    fake.requests.append(record)
                headers = {key.lower(): value for key, value in record.headers.items()}
                if not fake._wait_until_ready(headers):
                    record.answered = "503-initialising"
                    self._json(503, {"error": "Service Unavailable: the endpoint is initializing"})
                    return
                with fake._inference:  # one request at a time
                    with fake._lock:
                        fake._in_flight += 1
                        fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                    try:
                        self._answer(record)
                    finally:
                        with fake._lock:
                            fake._in_flight -= 1

            def _answer(self, record: Recorded) -> None:
                if record.problems:
                    record.answered = "400-contract"
                    self._json(400, {"error": "contract: " + "; ".join(record.problems)})
                    return
                behaviour = fake._next_behaviour()
                record.answered = behaviour
                if behaviour == "ok":
                    self._send(200, fake.render(record), "image/png")
                elif behaviour == "503":
                    self._json(503, {"error": "Service Unavailable: the endpoint is initializing"})
                elif behaviour == "429":
                    self._json(429, {"error": "Too Many Requests"}, {"Retry-After": fake.retry_after})
                elif behaviour == "400":
                    self._json(400, {"error": fake.error_message})
                elif behaviour == "401":
                    self._json(401, {"error": "Authorization header is invalid"})
                elif behaviour == "500":  # the proxy's, not the handler's (which only answers 400)
                    self._json(500, {"error": "Internal Server Error"})
                elif behaviour == "oom":
                    self._json(400, {"error": OOM_MESSAGE})
                elif behaviour == "slow":
                    fake._stopping.wait(fake.slow_seconds)
                    self._send(200, fake.render(record), "image/png")
                elif behaviour == "garbage":
                    self._send(200, b"<html>this is not a png</html>", "image/png")

            def _json(self, status: int, document: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(document).encode(), "application/json", headers)

            def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the "slow" fault): nothing to answer

        return Handler
