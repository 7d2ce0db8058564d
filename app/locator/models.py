"""Detections: what a locate job found in an image, owned by the job's owner.

Rows are written only together with the job's success (the job's ``finalize``), with ids
derived from the job id and the detection's rank, so a retried attempt cannot duplicate them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Detection(Base):
    __tablename__ = "detections"
    __table_args__ = (
        Index("ix_detections_job_rank", "job_id", "rank"),
        Index("ix_detections_image_id", "image_id"),
        Index("ix_detections_owner_id", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)  # 0 = highest score within the job
    label: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    # Pixel box, x2/y2 exclusive (the box covers columns x1..x2-1), in the image's own size.
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    x2: Mapped[int] = mapped_column(Integer)
    y2: Mapped[int] = mapped_column(Integer)
    # Instance mask as compressed COCO RLE {"size": [h, w], "counts": "..."} (app.locator.rle).
    mask: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def box(self) -> list[int]:
        return [self.x1, self.y1, self.x2, self.y2]

    def as_output(self, *, with_mask: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": str(self.id), "label": self.label, "score": self.score, "box": self.box}
        if with_mask and self.mask is not None:
            out["mask"] = self.mask
        return out
