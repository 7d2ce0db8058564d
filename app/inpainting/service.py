"""Inpainting requests before they become jobs: the mask, the parameters, the result cache.

Runs in the API process: Pillow is imported inside the functions, on the first request that
needs it, never at import time.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.service import Model
from app.images.models import Image, ImageStatus
from app.images.service import get_owned_image
from app.inpainting.backends.base import DEFAULT_GUIDANCE, DEFAULT_STEPS, InpaintParams
from app.inpainting.masks import MaskError, build_mask, mask_from_png_bytes
from app.inpainting.schemas import InpaintingCreate, MaskSpec
from app.jobs.context import ImageFacts
from app.jobs.models import Job, JobStatus
from app.jobs.service import canonical_hash
from app.storage import Storage

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

KIND = "inpaint"
# Part of every cache key: a change to cropping, feathering, paste-back or a local fill must
# not serve results made by the old pipeline. v2: opencv-fill's FSR fills chroma at lower
# resolution, opencv-telea fills wide holes coarse to fine.
PIPELINE_VERSION = "highres-v2"


@dataclass(frozen=True)
class PreparedMask:
    key: str  # where the normalised mask PNG is stored
    sha256: str  # of its pixels, so equal masks given as boxes or as a PNG hash alike
    source: str


def prepare_mask(
    session: Session, storage: Storage, *, owner_id: uuid.UUID, image: Image | ImageFacts, spec: MaskSpec
) -> PreparedMask:
    """Build and check the mask against the image (``MaskError`` → 422), then store it.

    Checked here, in the request, so a bad mask is refused before any job exists. Stored
    under its own hash: a retried or duplicate request writes the same object, and a request
    refused later (quota) leaves at most a file the next identical request reuses.
    """
    assert image.width and image.height
    size = (image.width, image.height)
    mask: PILImage | None = None
    if spec.boxes:
        source = "boxes"
        # Boxes are the common case and their mask is a pure function of the boxes and the
        # size: raster and hash it once (MaskError is never cached), not on every submit.
        sha256 = _boxes_sha256(size, tuple(tuple(box) for box in spec.boxes))
    elif spec.detection_ids:
        from app.locator.masks import DetectionMaskError, UnknownDetections, mask_for_detections

        source = "detection_ids"
        try:
            mask = mask_for_detections(
                session,
                owner_id=owner_id,
                image_id=image.id,
                detection_ids=spec.detection_ids,
                size=size,
                grow_pixels=spec.grow_pixels,
            )
        except (DetectionMaskError, UnknownDetections) as exc:
            raise MaskError(exc.message) from exc
    elif spec.image_id:
        source = "image_id"
        mask_row = get_owned_image(session, owner_id=owner_id, image_id=spec.image_id)
        if mask_row is None or mask_row.status != ImageStatus.READY:
            raise MaskError(f"mask image {spec.image_id} not found")
        if mask_row.format != "PNG":
            raise MaskError(f"mask must be a PNG (lossless), not {mask_row.format}")
        mask = mask_from_png_bytes(size, storage.get(mask_row.storage_key))
    else:
        source = "png_base64"
        mask = build_mask(size, png_base64=spec.png_base64)
    if mask is not None:
        sha256 = _pixels_sha256(size, mask)
    key = f"masks/{owner_id}/{sha256}.png"
    if not _stored_masks.seen(storage, key):
        if storage.size(key) is None:
            import io

            if mask is None:
                mask = build_mask(size, boxes=spec.boxes)
            buffer = io.BytesIO()
            mask.save(buffer, format="PNG")
            storage.put(key, buffer.getvalue(), "image/png")
        _stored_masks.add(storage, key)
    return PreparedMask(key=key, sha256=sha256, source=source)


class _StoredMasks:
    """Mask keys this process has stored or found in storage.

    A mask is stored under its owner and its pixels' hash and never deleted on its own (only
    with its owner's whole account, who then submits no more), so once seen it is there: the
    next submit of the same mask skips the storage look-up (a stat locally, an S3 HeadObject in
    AWS). Bounded: forgetting only costs one more look-up."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._keys: set[tuple[int, str]] = set()

    def seen(self, storage: Storage, key: str) -> bool:
        return (id(storage), key) in self._keys

    def add(self, storage: Storage, key: str) -> None:
        if len(self._keys) >= self.LIMIT:
            self._keys.clear()
        self._keys.add((id(storage), key))


_stored_masks = _StoredMasks()


def _pixels_sha256(size: tuple[int, int], mask: PILImage) -> str:
    digest = hashlib.sha256(f"{size[0]}x{size[1]}:".encode())
    digest.update(mask.tobytes())
    return digest.hexdigest()


@lru_cache(maxsize=1024)
def _boxes_sha256(size: tuple[int, int], boxes: tuple[tuple[int, ...], ...]) -> str:
    """The pixel hash of the boxes' mask: equal to ``_pixels_sha256`` of the same mask sent as
    a PNG, so both hit the same cached result."""
    return _pixels_sha256(size, build_mask(size, boxes=[list(box) for box in boxes]))


def resolve_params(body: InpaintingCreate, model: Model) -> InpaintParams:
    """The request's values, else the model's defaults, else the API's."""
    defaults: dict[str, Any] = model.defaults or {}
    steps = body.num_inference_steps
    guidance = body.guidance_scale
    return InpaintParams(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        num_inference_steps=steps if steps is not None else int(defaults.get("num_inference_steps", DEFAULT_STEPS)),
        guidance_scale=guidance if guidance is not None else float(defaults.get("guidance_scale", DEFAULT_GUIDANCE)),
        seed=body.seed,
    )


def job_input(image: Image | ImageFacts, mask: PreparedMask, params: InpaintParams, spec: MaskSpec) -> dict[str, Any]:
    """What the job runs from. Never the base64 mask itself: it lives in storage."""
    value: dict[str, Any] = {
        "image_id": str(image.id),
        "image_sha256": image.sha256,
        "mask_key": mask.key,
        "mask_sha256": mask.sha256,
        "mask_source": mask.source,
        **params.as_dict(),
    }
    if spec.boxes:
        value["mask_boxes"] = spec.boxes
    return value


def output_options(body: InpaintingCreate) -> dict[str, Any]:
    """The output encoding, when not the default PNG (absent, so PNG jobs and their cache keys
    stay as they were)."""
    if body.output_format == "png":
        return {}
    return {"output_format": body.output_format, "output_quality": body.output_quality}


def cache_key(
    *,
    image_sha256: str | None,
    mask_sha256: str,
    params: InpaintParams,
    model: str,
    backend: str,
    output: dict[str, Any] | None = None,
) -> str | None:
    """sha256 of a canonical form of everything that determines the result; None without a
    seed, since an unseeded request asks for a new sample every time, and None for a backend
    that ignores the seed (the SD2 endpoint), whose every call is a new sample."""
    from app.inpainting.backends import SEEDED_BACKENDS

    if params.seed is None or not image_sha256 or backend not in SEEDED_BACKENDS:
        return None
    return canonical_hash(
        {
            "pipeline": PIPELINE_VERSION,
            "image_sha256": image_sha256,
            "mask_sha256": mask_sha256,
            "model": model,
            **params.as_dict(),
            **(output or {}),
        }
    )


def cached_output(session: Session, *, owner_id: uuid.UUID, key: str | None) -> dict[str, Any] | None:
    """The output of this user's latest succeeded identical job, if its image still exists.

    Scoped to the owner: the result is an image of theirs, and another user's output must
    never be handed out, even for the same input bytes.
    """
    if key is None:
        return None
    earlier = session.scalar(
        select(Job)
        .where(
            Job.owner_id == owner_id,
            Job.kind == KIND,
            Job.cache_key == key,
            Job.status == JobStatus.SUCCEEDED,
        )
        .order_by(Job.completed_at.desc())
        .limit(1)
    )
    if earlier is None or not earlier.output or not earlier.output.get("image_id"):
        return None
    image_id = uuid.UUID(str(earlier.output["image_id"]))
    if get_owned_image(session, owner_id=owner_id, image_id=image_id) is None:
        return None  # the user deleted that result: make a new one
    return {"image_id": str(image_id), "cached_from_job_id": str(earlier.id)}
