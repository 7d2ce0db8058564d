"""Import every ORM model so ``Base.metadata`` is complete (alembic, tests)."""

from app.catalog.models import AccessPolicy, MLModel, UsageCounter
from app.core.db import Base
from app.images.models import Image
from app.jobs.models import Job
from app.users.models import ApiKey, User

__all__ = ["AccessPolicy", "ApiKey", "Base", "Image", "Job", "MLModel", "UsageCounter", "User"]
