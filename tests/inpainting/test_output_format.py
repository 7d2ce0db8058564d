"""JPEG / WebP output on request: smaller files, paid for with compression noise outside the mask."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.factories import upload_image
from tests.inpainting.test_api import finished_job, seeded, submit  # noqa: F401 - fixture

BOX = [100, 60, 160, 120]


def photo_like(width: int = 400, height: int = 300) -> Image.Image:
    """Smooth gradients plus mild sensor noise: closer to a photo than pure noise."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 200, y / height * 180, (x + y) / (width + height) * 220], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8), mode="RGB")


def _output(client, headers, job) -> tuple[Image.Image, int]:
    data = client.get(job["output"]["url"]).content
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, len(data)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lossy_output_on_request(client, user_headers, seeded, fmt) -> None:  # noqa: F811
    source = photo_like()
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    uploaded = upload_image(client, user_headers, buffer.getvalue())
    outputs = {}
    for output_format in ("png", fmt):
        body = {"image_id": uploaded["id"], "prompt": "sky", "mask": {"boxes": [BOX]}, "output_format": output_format}
        response = submit(client, user_headers, body)
        assert response.status_code == 202, response.text
        job = finished_job(client, user_headers, response.json()["id"])
        assert job["status"] == "succeeded", job
        outputs[output_format] = _output(client, user_headers, job)

    png_image, png_bytes = outputs["png"]
    lossy_image, lossy_bytes = outputs[fmt]
    assert png_image.format == "PNG" and lossy_image.format == fmt.upper()
    assert lossy_bytes * 3 < png_bytes, (lossy_bytes, png_bytes)  # what the user asked for
    outside = np.ones((300, 400), dtype=bool)
    outside[BOX[1] - 8 : BOX[3] + 8, BOX[0] - 8 : BOX[2] + 8] = False
    original = np.asarray(source, dtype=np.int16)[outside]
    assert (np.asarray(png_image.convert("RGB"), dtype=np.int16)[outside] == original).all()  # exact
    error = np.abs(np.asarray(lossy_image.convert("RGB"), dtype=np.int16)[outside] - original)
    assert 0 < error.mean() < 4  # the cost: small changes outside the mask
