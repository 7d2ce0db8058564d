"""Every ORM model, imported together so ``Base.metadata`` is complete in every process.

Models refer to each other's tables across domains (an output ``Image`` or a ``Detection``
has a foreign key to ``users``); a process that imported only some of them could not flush.
``app.core.db.get_engine`` imports this module, so no entry point can forget it.
"""

from app.auth.models import LoginThrottle
from app.catalog.models import AccessPolicy, MLModel, UsageCounter
from app.core.db import Base
from app.images.models import Image
from app.jobs.models import Job
from app.locator.models import Detection
from app.users.models import ApiKey, User

__all__ = [
    "AccessPolicy",
    "ApiKey",
    "Base",
    "Detection",
    "Image",
    "Job",
    "LoginThrottle",
    "MLModel",
    "UsageCounter",
    "User",
]
