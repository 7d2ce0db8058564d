"""The seeder: idempotent upserts in one transaction, as a Lambda and as a local command."""

import json
from pathlib import Path

import pytest

from app.catalog.models import AccessPolicy, MLModel
from app.seed import service as seed
from app.users.models import User

EVENTS = Path(__file__).resolve().parents[1] / "events"


def table_counts(db):
    db.expire_all()
    return {
        "users": db.query(User).count(),
        "models": db.query(MLModel).count(),
        "access_policies": db.query(AccessPolicy).count(),
    }


def test_second_run_changes_nothing(db, settings):
    first = seed.run_seed(db, settings)
    assert first["models"]["created"] == 5 and first["users"]["created"] == 1
    second = seed.run_seed(db, settings)
    for table, counts in second.items():
        assert counts["created"] == 0 and counts["updated"] == 0, table
        assert counts["unchanged"] == first[table]["created"], table


def test_changed_seed_file_updates_rows(db, settings):
    document = seed.load_seed_file(settings)
    seed.run_seed(db, settings, document)
    document["models"][1]["description"] = "changed"
    result = seed.run_seed(db, settings, document)
    assert result["models"] == {"created": 0, "updated": 1, "unchanged": 4}


def test_rotated_admin_password_is_applied(db, settings, monkeypatch):
    seed.run_seed(db, settings)
    monkeypatch.setattr(seed, "admin_password", lambda _settings: "a brand new password")
    assert seed.run_seed(db, settings)["users"] == {"created": 0, "updated": 1, "unchanged": 0}
    from app.users.service import authenticate

    assert authenticate(db, email=settings.admin_email, password="a brand new password") is not None


def test_failure_in_the_middle_leaves_the_database_as_it_was(db, settings, monkeypatch):
    before = table_counts(db)

    def explode(ctx, rows):
        raise RuntimeError("boom in the middle")

    monkeypatch.setitem(seed.SEEDERS, "access_policies", explode)
    with pytest.raises(RuntimeError):
        seed.run_seed(db, settings)
    assert table_counts(db) == before


def test_lambda_handler_with_sample_events(db, settings):
    from functions.seeder import handler

    migrate = handler(json.loads((EVENTS / "seeder_migrate.json").read_text()), None)
    assert migrate["statusCode"] == 200
    assert migrate["body"]["models"]["created"] == 5
    again = handler(json.loads((EVENTS / "seeder_seed_only.json").read_text()), None)
    assert again["statusCode"] == 200
    assert all(counts["created"] == counts["updated"] == 0 for counts in again["body"].values())


def test_lambda_handler_error_path_returns_500_and_writes_nothing(db, settings, monkeypatch):
    from functions.seeder import handler

    before = table_counts(db)
    monkeypatch.delenv("ADMIN_PASSWORD")
    from tests.conftest import reset_app_state

    reset_app_state()
    result = handler({}, None)
    assert result["statusCode"] == 500
    assert "no password for seeded user" in result["body"]["error"]
    assert table_counts(db) == before


def test_local_command(db, capsys):
    from app.__main__ import main

    assert main(["seed"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["users"]["created"] == 1
    assert main(["seed"]) == 0
    assert json.loads(capsys.readouterr().out)["users"] == {"created": 0, "updated": 0, "unchanged": 1}
