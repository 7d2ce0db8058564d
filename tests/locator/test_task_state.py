"""functions.task_state fed the sample EventBridge events from events/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.factories import png_bytes
from tests.locator.conftest import make_image, make_job

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event_for(name: str, *job_ids: uuid.UUID) -> dict:
    event = json.loads((EVENTS / name).read_text())
    for override in event["detail"]["overrides"]["containerOverrides"]:
        for variable in override["environment"]:
            if variable["name"] == "JOB_IDS":
                variable["value"] = ",".join(str(j) for j in job_ids)
    return event


@pytest.fixture
def image(seeded, db, user):
    return make_image(db, user.id, png_bytes(32, 32))


def _job(db, job_id):
    from app.jobs.models import Job

    db.expire_all()
    return db.get(Job, job_id)


def _set(db, job, **values) -> None:
    for key, value in values.items():
        setattr(job, key, value)
    db.commit()


def test_unfinished_job_fails_with_the_stop_reason_and_exit_code(db, user, image) -> None:
    from functions.task_state import handler

    event = event_for("ecs_task_state_stopped_exit_error.json")
    task_arn = event["detail"]["taskArn"]
    job = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    _set(db, job, status="running", attempts=1, external_ref=task_arn)
    event = event_for("ecs_task_state_stopped_exit_error.json", job.id)

    result = handler(event, None)
    assert result["failed"] == [str(job.id)]
    failed = _job(db, job.id)
    assert failed.status == "failed" and failed.error_code == "task_stopped"
    assert "Essential container in task exited" in failed.error_message
    assert "exit code 1" in failed.error_message and "EssentialContainerExited" in failed.error_message

    assert handler(event, None)["failed"] == []  # a redelivered event changes nothing


def test_task_that_never_started_fails_all_its_jobs(db, user, image) -> None:
    from functions.task_state import handler

    a = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    b = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    result = handler(event_for("ecs_task_state_stopped_no_start.json", a.id, b.id), None)
    assert sorted(result["failed"]) == sorted([str(a.id), str(b.id)])
    for job_id in (a.id, b.id):
        job = _job(db, job_id)
        assert job.status == "failed" and "CannotPullContainerError" in job.error_message


def test_finished_and_elsewhere_running_jobs_are_left_alone(db, user, image) -> None:
    from functions.task_state import handler

    done = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    _set(db, done, status="succeeded", output={"width": 32, "height": 32, "detections": []})
    elsewhere = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    other_task = "arn:aws:ecs:us-east-1:123456789012:task/inpaint-dev-locator/ffffffffffffffffffffffffffffffff"
    _set(db, elsewhere, status="running", attempts=1, external_ref=other_task)

    result = handler(event_for("ecs_task_state_stopped_exit_error.json", done.id, elsewhere.id), None)
    assert result["failed"] == []
    assert result["left"] == {str(done.id): "succeeded", str(elsewhere.id): "running in another task"}
    assert _job(db, done.id).status == "succeeded"
    assert _job(db, elsewhere.id).status == "running"


def test_a_drained_job_is_found_by_its_task_arn(db, user, image) -> None:
    from functions.task_state import handler

    event = event_for("ecs_task_state_stopped_exit_error.json", uuid.uuid4())  # carries another id
    drained = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    _set(db, drained, status="running", attempts=1, external_ref=event["detail"]["taskArn"])
    result = handler(event, None)
    assert result["failed"] == [str(drained.id)]
    assert list(result["left"].values()) == ["unknown job"]


def test_other_states_are_ignored(db) -> None:
    from functions.task_state import handler

    event = event_for("ecs_task_state_stopped_exit_error.json", uuid.uuid4())
    event["detail"]["lastStatus"] = "RUNNING"
    assert handler(event, None)["failed"] == []
