"""Inpainting backends by name, as the models registry refers to them."""

from __future__ import annotations

from app.core.config import Settings
from app.inpainting.backends.base import InpaintingBackend, InpaintParams

__all__ = ["BACKEND_NAMES", "SEEDED_BACKENDS", "InpaintParams", "InpaintingBackend", "UnknownBackend", "get_backend"]

BACKEND_NAMES = ("opencv", "opencv-fill", "hf-endpoint")
# Backends whose output a seed reproduces (the OpenCV fills are deterministic). The SD2 endpoint's
# handler ignores "seed", so its identical requests are new samples and never served from the cache.
SEEDED_BACKENDS = frozenset({"opencv", "opencv-fill"})


class UnknownBackend(LookupError):
    pass


def get_backend(name: str, settings: Settings) -> InpaintingBackend:
    # Imported here so the API process never loads a backend it does not call.
    if name == "opencv":
        from app.inpainting.backends.opencv import OpenCVBackend

        return OpenCVBackend()
    if name == "opencv-fill":
        from app.inpainting.backends.opencv_fill import OpenCVFillBackend

        return OpenCVFillBackend()
    if name == "hf-endpoint":
        from app.inpainting.backends.hf_endpoint import HFEndpointBackend

        return HFEndpointBackend.from_settings(settings)
    raise UnknownBackend(f"unknown inpainting backend {name!r}; known: {', '.join(BACKEND_NAMES)}")
