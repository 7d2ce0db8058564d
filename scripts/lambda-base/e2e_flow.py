"""The HTTP flow that scripts/sam-local-e2e.sh drives through `sam local start-api`.

    python3 e2e_flow.py BASE_URL EMAIL PASSWORD

Standard library only (runs with any python3 on the host). Steps, each printed with its time:
health -> token for the seeded user -> upload a generated PNG -> inpainting job on the OpenCV
backend (Prefer: wait=20) -> poll the job to `succeeded` -> fetch output.url and check it is
a PNG of the input's size. Exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

TIMEOUT = 60  # one request (a cold container's first request pays the INIT)
JOB_DEADLINE = 180  # seconds for the job to succeed


def make_png(width: int, height: int) -> bytes:
    """An RGB gradient PNG, encoded with zlib only."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes((x * 255 // width, y * 255 // height, 128))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"not a PNG: {data[:16]!r}")
    return struct.unpack(">II", data[16:24])


def request(method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - loopback only
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def expect(status: int, body: bytes, *wanted: int) -> dict:
    if status not in wanted:
        raise AssertionError(f"HTTP {status} (wanted {wanted}): {body[:500]!r}")
    document = json.loads(body) if body else {}
    if isinstance(document, dict) and "errorType" in document:  # the handler itself failed
        raise AssertionError(f"Lambda error: {json.dumps(document)[:2000]}")
    return document


def step(name: str, t0: float) -> None:
    print(f"e2e: {name} ({time.monotonic() - t0:.2f}s)", flush=True)


def main() -> int:
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    for url in (base,):
        host = urllib.parse.urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing to send traffic to {host}: loopback only")

    t = time.monotonic()
    status, _, body = request("GET", f"{base}/health")
    health = expect(status, body, 200)
    if health.get("status") != "ok":
        raise AssertionError(f"/health: {json.dumps(health)[:2000]}")
    step(f"GET /health -> {health}", t)

    t = time.monotonic()
    form = urllib.parse.urlencode({"username": email, "password": password}).encode()
    status, _, body = request(
        "POST", f"{base}/v1/auth/token", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    token = expect(status, body, 200)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    step("POST /v1/auth/token -> access_token", t)

    t = time.monotonic()
    width, height = 96, 64
    png = make_png(width, height)
    boundary = uuid.uuid4().hex
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="e2e.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, body = request(
        "POST",
        f"{base}/v1/images",
        data=multipart,
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    image = expect(status, body, 200, 201)
    step(f"POST /v1/images -> {image['id']} ({len(png)} bytes)", t)

    t = time.monotonic()
    payload = {
        "image_id": image["id"],
        "prompt": "a wooden park bench",
        "mask": {"boxes": [[16, 16, 48, 40]]},
        "model": "opencv-telea",
    }
    status, _, body = request(
        "POST",
        f"{base}/v1/inpaintings",
        data=json.dumps(payload).encode(),
        headers={**auth, "Content-Type": "application/json", "Prefer": "wait=20"},
    )
    job = expect(status, body, 200, 201, 202)
    step(f"POST /v1/inpaintings -> HTTP {status}, job {job['id']} {job['status']}", t)

    t = time.monotonic()
    deadline = time.monotonic() + JOB_DEADLINE
    while job["status"] != "succeeded":
        if job["status"] in ("failed", "cancelled", "canceled"):
            raise AssertionError(f"job ended {job['status']}: {json.dumps(job)[:800]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"job not done after {JOB_DEADLINE}s: {json.dumps(job)[:800]}")
        time.sleep(1)
        status, _, body = request("GET", f"{base}/v1/jobs/{job['id']}", headers=auth)
        job = expect(status, body, 200)
    step(f"GET /v1/jobs/{job['id']} -> succeeded", t)

    t = time.monotonic()
    url = job["output"]["url"]
    if url.startswith("/"):
        url = base + url
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise AssertionError(f"output.url is not a local URL (PUBLIC_BASE_URL?): {url}")
    status, headers, data = request("GET", url)
    if status != 200:
        raise AssertionError(f"GET output.url -> HTTP {status}: {data[:300]!r}")
    size = png_size(data)
    if size != (width, height):
        raise AssertionError(f"result is {size}, input was {(width, height)}")
    step(f"GET output.url -> PNG {size[0]}x{size[1]}, {len(data)} bytes, {headers.get('content-type')}", t)
    print("e2e: flow passed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except AssertionError as exc:
        print(f"e2e: FAILED: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
