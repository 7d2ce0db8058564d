"""Every function in template.yaml replays each of its events/ files through its handler."""

from __future__ import annotations

import base64
import importlib
import json
import uuid

import pytest

from tests.test_lambda_events import EXPECTED, lambda_context, load_event
from tests.test_template import _function_handlers, event_files_for_handler

CASES = [
    (function, handler, path) for function, handler in _function_handlers() for path in event_files_for_handler(handler)
]


def check_response(handler: str, name: str, response: dict, db) -> None:
    if handler == "functions.api.handler":
        status, check = EXPECTED[name]
        body = response["body"]
        if response.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        assert response["statusCode"] == status and check(body), body
    elif handler == "functions.worker.handler":
        assert response == {"batchItemFailures": []}  # sample jobs are unknown here: acknowledged no-ops
    elif handler == "functions.seeder.handler":
        assert response["statusCode"] == 200, response
        assert set(response["body"]) == {"users", "models", "access_policies"}
    elif handler == "functions.task_state.handler":
        from app.jobs.models import Job

        db.expire_all()
        assert response["failed"], response
        job = db.get(Job, uuid.UUID(response["failed"][0]))
        assert job.status == "failed" and job.error_code == "task_stopped" and job.error_message
    elif handler == "functions.reaper.handler":
        assert response == {"dispatched": []}, response  # nothing stranded in an empty database
    else:
        raise AssertionError(f"no expectation for {handler}")


@pytest.mark.parametrize(("function", "handler", "path"), CASES, ids=[f"{c[0]}-{c[2].name}" for c in CASES])
def test_function_replays_its_event(function, handler, path, db, settings, user):
    from app.jobs.models import Job
    from app.seed.service import run_seed

    run_seed(db, settings)
    module_name, attr = handler.rsplit(".", 1)
    function_handler = getattr(importlib.import_module(module_name), attr)
    if handler == "functions.api.handler":
        from fastapi.testclient import TestClient

        from app.main import app
        from tests.factories import token_for

        password = settings.admin_password.get_secret_value()
        with TestClient(app) as client:
            token = token_for(client, settings.admin_email, password)
        event = load_event(path, token=token, admin_password=password)
    else:
        event = json.loads(path.read_text())
    if handler == "functions.task_state.handler":
        # an unfinished locate job that ran in the stopped task
        job = Job(
            owner_id=user.id,
            kind="locate",
            model="detectron2-mask-rcnn",
            status="running",
            input={},
            request_hash="0" * 64,
            external_ref=event["detail"]["taskArn"],
        )
        db.add(job)
        db.commit()
    response = function_handler(event, lambda_context())
    check_response(handler, path.name, response, db)
