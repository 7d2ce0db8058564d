"""Fixtures for the inpainting domain: images, a recording backend, the fake HF endpoint."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from PIL import Image

from app.inpainting.backends.base import InpaintParams
from tests.fakes.hf_endpoint import TOKEN, FakeHFEndpoint


def noise_image(width: int, height: int, seed: int = 7) -> Image.Image:
    """A busy RGB image, so "unchanged" and "changed" pixels are easy to tell apart."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), mode="RGB")


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients and waves with mild noise: what the local fills' interiors can approach."""
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = np.stack(
        [xx / width * 200 + 30 + 20 * np.sin(yy / 37), yy / height * 180 + 40, (1 - xx / width) * 150 + 60],
        axis=-1,
    )
    return Image.fromarray(np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8), mode="RGB")


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@dataclass
class RecordingBackend:
    """Paints the mask a fixed colour and remembers what it was given."""

    name: str = "recording"
    max_side: int = 512
    upscale: bool = True
    size_multiple: int = 8
    colour: tuple[int, int, int] = (0, 255, 0)
    calls: list[tuple[Image.Image, Image.Image, InpaintParams]] = field(default_factory=list)

    def inpaint(self, image: Image.Image, mask: Image.Image, params: InpaintParams) -> Image.Image:
        self.calls.append((image.copy(), mask.copy(), params))
        return Image.composite(Image.new("RGB", image.size, self.colour), image, mask)


@pytest.fixture
def recording_backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def fake_endpoint() -> Iterator[FakeHFEndpoint]:
    fake = FakeHFEndpoint(token=TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff sleeps the backend asked for (tests never really sleep)."""
    return []
