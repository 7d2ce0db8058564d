"""login throttles; NUL escapes removed from stored job inputs

Before input was checked, a NUL in a request string reached a job's JSON ``input``. PostgreSQL
stores ``\u0000`` in a ``json`` value but cannot turn it into text, so every ``->>`` over that
user's jobs failed (GET /v1/images/{id}/detections answered 500 for good). Such escapes are
removed from the stored text; requests can no longer bring new ones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE jobs SET input = replace(input::text, '\\u0000', '')::json WHERE strpos(input::text, '\\u0000') > 0"
        )


def downgrade() -> None:
    op.drop_table("login_throttles")
