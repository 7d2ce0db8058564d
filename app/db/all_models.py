"""Import every ORM model so ``Base.metadata`` is complete (alembic, tests)."""

from app.catalog.models import AccessPolicy, MLModel, UsageCounter
from app.core.db import Base
from app.images.models import Image
from app.jobs.models import Job
from app.locator.models import Detection
from app.users.models import ApiKey, User

__all__ = ["AccessPolicy", "ApiKey", "Base", "Detection", "Image", "Job", "MLModel", "UsageCounter", "User"]
