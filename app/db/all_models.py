"""Import every ORM model so ``Base.metadata`` is complete (alembic, tests)."""

from app.core.db import Base
from app.images.models import Image
from app.users.models import ApiKey, User

__all__ = ["ApiKey", "Base", "Image", "User"]
