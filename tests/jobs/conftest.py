import uuid

import pytest

from app.jobs import runner
from tests.jobs import support


@pytest.fixture(autouse=True)
def test_kind(monkeypatch):
    monkeypatch.setitem(runner.HANDLER_MODULES, "test", "tests.jobs.support")
    support.reset()
    yield
    support.reset()


@pytest.fixture
def make_job(db, user):
    from app.jobs.models import Job

    def make(**values):
        fields = {
            "id": uuid.uuid4(),
            "owner_id": user.id,
            "kind": "test",
            "model": "test-model",
            "input": {"n": 1},
            "request_hash": "0" * 64,
            **values,
        }
        job = Job(**fields)
        db.add(job)
        db.commit()
        return job

    return make


@pytest.fixture
def reload(db):
    from app.jobs.models import Job

    def get(job_id):
        db.expire_all()
        return db.get(Job, job_id)

    return get
