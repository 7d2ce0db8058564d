"""Inpainting masks from stored detections (``mask: {"detection_ids": [...]}``).

Cheap to import (numpy, OpenCV and Pillow load when a mask is built), so a router may import it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.models import Job, JobStatus
from app.locator.models import Detection

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_DETECTION_IDS = 100
MAX_GROW_PIXELS = 64


class DetectionMaskError(ValueError):
    """The request cannot make a mask (bad ids, ids of another image, empty result): a 422."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownDetections(LookupError):
    """Some ids are not detections of this user (unknown, or another user's): a 404/422."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.ids = ids


def _parse_ids(detection_ids: Sequence[object]) -> list[uuid.UUID]:
    if not detection_ids:
        raise DetectionMaskError("detection_ids: give at least one detection id")
    if len(detection_ids) > MAX_DETECTION_IDS:
        raise DetectionMaskError(f"detection_ids: at most {MAX_DETECTION_IDS} ids")
    ids: list[uuid.UUID] = []
    for index, value in enumerate(detection_ids):
        try:
            parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError as exc:
            raise DetectionMaskError(f"detection_ids[{index}]: {str(value)[:64]!r} is not a detection id") from exc
        if parsed not in ids:
            ids.append(parsed)
    return ids


def load_detections(
    session: Session, *, owner_id: uuid.UUID, image_id: uuid.UUID, detection_ids: Sequence[object]
) -> list[Detection]:
    """The owner's detections with these ids, all of ``image_id``, in the order given."""
    ids = _parse_ids(detection_ids)
    rows = {
        row.id: row
        for row in session.scalars(
            select(Detection)
            .join(Job, Job.id == Detection.job_id)
            .where(Detection.id.in_(ids), Detection.owner_id == owner_id, Job.status == JobStatus.SUCCEEDED)
        )
    }
    missing = [str(i) for i in ids if i not in rows]
    if missing:  # another user's detections are "unknown" too: nothing leaks about them
        raise UnknownDetections(f"unknown detection ids: {', '.join(missing)}", missing)
    others = [str(i) for i in ids if rows[i].image_id != image_id]
    if others:
        raise DetectionMaskError(f"detections {', '.join(others)} belong to another image, not to image {image_id}")
    return [rows[i] for i in ids]


def mask_for_detections(
    session: Session,
    *,
    owner_id: uuid.UUID,
    image_id: uuid.UUID,
    detection_ids: Sequence[object],
    size: tuple[int, int],
    grow_pixels: int = 0,
) -> Image:
    """The union of the detections' instance masks (their boxes when they have none), as a
    0/255 "L" image of ``size`` = (width, height), grown by ``grow_pixels`` (0..64).

    Detections are in the pixels of the image they were found in; a ``size`` other than the
    detections' own is scaled to. Raises ``UnknownDetections`` (a LookupError) for ids that
    are not the owner's detections, ``DetectionMaskError`` (a ValueError) for malformed ids,
    ids of another image, a bad ``grow_pixels`` or an empty result; ``.message`` is safe to
    show to the user.
    """
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    from app.locator import rle

    width, height = size
    if width <= 0 or height <= 0:
        raise DetectionMaskError(f"invalid mask size {size}")
    if not 0 <= grow_pixels <= MAX_GROW_PIXELS:
        raise DetectionMaskError(f"grow_pixels must be between 0 and {MAX_GROW_PIXELS}")
    detections = load_detections(session, owner_id=owner_id, image_id=image_id, detection_ids=detection_ids)

    result = np.zeros((height, width), np.uint8)
    for detection in detections:
        if detection.mask is not None:
            try:
                instance = rle.decode(detection.mask).astype(np.uint8) * 255
            except ValueError as exc:
                raise DetectionMaskError(f"detection {detection.id} has an unreadable mask: {exc}") from exc
            if instance.shape != (height, width):
                instance = cv2.resize(instance, (width, height), interpolation=cv2.INTER_NEAREST)
            result = np.maximum(result, instance)
        else:
            source_w, source_h = _source_size(detection) or (width, height)
            sx, sy = width / source_w, height / source_h
            x1, y1 = int(np.floor(detection.x1 * sx)), int(np.floor(detection.y1 * sy))
            x2, y2 = int(np.ceil(detection.x2 * sx)), int(np.ceil(detection.y2 * sy))
            result[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)] = 255
    if grow_pixels > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_pixels + 1, 2 * grow_pixels + 1))
        result = cv2.dilate(result, kernel)
    if not result.any():
        raise DetectionMaskError("the detections' masks are empty: nothing to inpaint")
    return PILImage.fromarray(result, mode="L")


def _source_size(detection: Detection) -> tuple[int, int] | None:
    """(width, height) of the image the detection was found in, from its job's output."""
    from sqlalchemy.orm import object_session

    session = object_session(detection)
    job = session.get(Job, detection.job_id) if session is not None else None
    output = (job.output or {}) if job is not None else {}
    if output.get("width") and output.get("height"):
        return int(output["width"]), int(output["height"])
    return None
