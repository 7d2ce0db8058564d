"""The "inpaint" job: what the worker Lambda (or the local pool) runs for each job.

Registered in ``app.jobs.runner.HANDLER_MODULES``. Loads the image and the stored mask, runs
the high-resolution strategy with the model's backend, stores the result as a new image of
the same owner (PNG, or JPEG/WebP when the request asked). The output's id and storage key
derive from the job id, so a retried attempt overwrites instead of leaving a second image;
the image row commits together with the job's success.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import MLModel
from app.images.models import Image, ImageStatus
from app.images.service import CONTENT_TYPES, get_owned_image, storage_key
from app.inpainting.backends import UnknownBackend, get_backend
from app.inpainting.backends.base import InpaintParams
from app.inpainting.highres import encode_png, inpaint_highres, open_image
from app.inpainting.masks import MaskError, mask_from_png_bytes
from app.jobs.errors import JobFailed
from app.jobs.runner import JobContext, JobResult

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

logger = logging.getLogger(__name__)

_PARAM_FIELDS = ("prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "seed")


def output_image_id(job_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(job_id, "inpaint-output")


def encode_output(image: PILImage, fmt: str, quality: int) -> bytes:
    """PNG (lossless, the default), or JPEG / WebP at ``quality`` when the request asked."""
    if fmt == "PNG":
        return encode_png(image)
    import io

    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")  # JPEG has no alpha
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def run(ctx: JobContext) -> JobResult:
    job, spec = ctx.job, ctx.job.input
    model = ctx.session.scalar(select(MLModel).where(MLModel.name == job.model))
    if model is None or not model.enabled:
        raise JobFailed("model_unavailable", f"model {job.model!r} is not available any more")
    try:
        backend = get_backend(model.backend, ctx.settings)
    except UnknownBackend as exc:
        raise JobFailed("model_unavailable", str(exc)) from exc

    source = get_owned_image(ctx.session, owner_id=job.owner_id, image_id=uuid.UUID(spec["image_id"]))
    if source is None or source.status != ImageStatus.READY:
        raise JobFailed("image_not_found", "the input image was deleted before the job ran")
    ctx.end_reads()
    image = open_image(ctx.storage.get(source.storage_key))
    try:
        mask = mask_from_png_bytes(image.size, ctx.storage.get(spec["mask_key"]))
    except MaskError as exc:
        raise JobFailed("invalid_mask", exc.message) from exc

    fmt = str(spec.get("output_format", "png")).upper()
    image_id = output_image_id(job.id)
    key = storage_key(job.owner_id, image_id, fmt)
    if ctx.storage.size(key) is not None:
        # An earlier delivery of this job stored its output, then died before committing it
        # (crash, timeout, database error): use it rather than pay for the endpoint call again.
        data = ctx.storage.get(key)
        width, height = open_image(data).size
        del image, mask
        logger.info("inpainting output reused from an earlier delivery", extra={"job_id": str(job.id)})
    else:
        params = InpaintParams(**{name: spec.get(name) for name in _PARAM_FIELDS if name in spec})
        result = inpaint_highres(image, mask, backend, params, in_place=True)
        del mask  # full resolution too, and not needed to encode: free it before the encoder's buffers
        width, height = result.image.size
        data = encode_output(result.image, fmt, int(spec.get("output_quality", 90)))
        del image, result  # the full-resolution buffers, before the upload
        ctx.storage.put(key, data, CONTENT_TYPES[fmt])
    size, sha256 = len(data), hashlib.sha256(data).hexdigest()
    del data
    logger.info("inpainting stored", extra={"job_id": str(job.id), "bytes": size, "backend": backend.name})

    def finalize(session: Session) -> None:
        row = session.get(Image, image_id) or Image(id=image_id, owner_id=job.owner_id)
        row.status = ImageStatus.READY
        row.storage_key = key
        row.format = fmt
        row.content_type = CONTENT_TYPES[fmt]
        row.width, row.height = width, height
        row.bytes = size
        row.sha256 = sha256
        session.add(row)

    return JobResult(output={"image_id": str(image_id)}, finalize=finalize)
