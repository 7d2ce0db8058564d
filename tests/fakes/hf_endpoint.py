"""A fake Stable Diffusion 2 inpainting endpoint: a real HTTP server on 127.0.0.1.

It checks every request against the custom handler's contract and records it; a request that
breaks the contract gets a 400 ``{"error": "contract: ..."}`` and its ``problems`` listed.
A good request gets a deterministic PNG: the image with the masked pixels painted in a
colour derived from the prompt's sha256.

Faults are scripted: ``fake.script("503", "503")`` answers the next two requests with 503,
then falls back to ``fake.default`` ("ok"). Behaviours: ok, 503, 429, 400, 401, 500, slow,
garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageChops

TOKEN = "hf_fake_token_for_tests"
PATH = "/"
MODEL_MAX_SIDE = 512
BEHAVIOURS = {"ok", "503", "429", "400", "401", "500", "slow", "garbage"}
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
        if headers.get("accept") != "image/png":
            problems.append(f"Accept {headers.get('accept')!r}, expected 'image/png'")
        if headers.get("content-type", "").split(";")[0] != "application/json":
            problems.append(f"Content-Type {headers.get('content-type')!r}, expected application/json")
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
        if "seed" in body and not isinstance(body["seed"], int):
            problems.append("seed must be an integer when present")
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
        image = record.image.convert("RGB")
        fill = Image.new("RGB", image.size, prompt_colour(record.body["inputs"]))
        binary = record.mask.convert("L").point(lambda v: 255 if v else 0)
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
                elif behaviour == "500":
                    self._json(500, {"error": "CUDA out of memory"})
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
