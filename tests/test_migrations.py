"""Alembic migrations and the ORM models agree, and migrations go down and up again."""

from sqlalchemy import inspect


def test_models_and_migrations_agree(database_url, db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.core.db import get_engine
    from app.core.models import Base

    with get_engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_downgrade_upgrade(database_url, db):
    from app.core.db import get_engine
    from app.core.migrate import current_head, downgrade, upgrade

    db.close()
    engine = get_engine()
    downgrade("base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade("head")
    tables = set(inspect(engine).get_table_names())
    assert {"users", "api_keys", "images", "jobs", "models", "access_policies"} <= tables
    with engine.connect() as connection:
        from alembic.migration import MigrationContext

        assert MigrationContext.configure(connection).get_current_revision() == current_head()
