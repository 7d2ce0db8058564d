"""The models registry, who may use which model, and how much."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class MLModel(Base):
    __tablename__ = "models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # "inpaint" | "locate"
    backend: Mapped[str] = mapped_column(
        String(50)
    )  # "hf-endpoint" | "opencv" | "opencv-fill" | "detectron2" | "opencv-locator"
    description: Mapped[str] = mapped_column(Text, default="")
    defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # the kind's model when none is named
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessPolicy(Base):
    """Who may use a model. ``principal`` is a user's email, or ``*`` for every user; a
    user's own policy wins over ``*``. Quotas count accepted submissions; None = unlimited."""

    __tablename__ = "access_policies"
    __table_args__ = (UniqueConstraint("principal", "model_name", name="uq_access_policies_principal_model"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    principal: Mapped[str] = mapped_column(String(320))
    model_name: Mapped[str] = mapped_column(String(100))
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    monthly_quota: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class UsageCounter(Base):
    """Submissions per user, model and period (``day:2026-11-22`` / ``month:2026-11``)."""

    __tablename__ = "usage_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
