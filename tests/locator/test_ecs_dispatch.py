"""AWS mode under moto: POST /v1/detections starts one ECS task carrying the job id."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient

from tests.factories import auth_headers, upload_image
from tests.locator.conftest import (
    CAPACITY_PROVIDER,
    CLUSTER,
    FAMILY,
    FixedPredictor,
    ecs_setup,
    fixed_detections,
)
from tests.locator.shapes import png, scene


@pytest.fixture
def aws_client(aws, seeded) -> TestClient:
    from app.main import create_app

    with TestClient(create_app(), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def ecs(aws) -> Any:
    from app.core import aws as aws_clients

    client = aws_clients.client("ecs")
    ecs_setup(client, aws_clients.client("ec2"))
    return client


def _spy_run_task(ecs: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    ecs.meta.events.register("provide-client-params.ecs.RunTask", record)
    return calls


def test_post_runs_one_task_with_the_job_id(aws_client, aws, ecs, db, user) -> None:
    from app.jobs.models import Job

    headers = auth_headers(aws_client, user)
    calls = _spy_run_task(ecs)
    image = upload_image(aws_client, headers, png(scene(160, 120)[0]))
    response = aws_client.post("/v1/detections", json={"image_id": image["id"]}, headers=headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["model"] == "detectron2-mask-rcnn"

    assert len(calls) == 1
    params = calls[0]
    assert params["clientToken"] == job["id"]
    assert params["cluster"] == CLUSTER and params["taskDefinition"] == FAMILY
    assert params["capacityProviderStrategy"] == [{"capacityProvider": CAPACITY_PROVIDER, "weight": 1, "base": 0}]
    assert "launchType" not in params
    assert params["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": aws["subnets"],
        "securityGroups": aws["security_groups"],
        "assignPublicIp": "DISABLED",
    }
    assert params["overrides"] == {
        "containerOverrides": [{"name": "locator", "environment": [{"name": "JOB_IDS", "value": job["id"]}]}]
    }
    assert len(params["startedBy"]) <= 36

    tasks = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    assert len(tasks) == 1
    (task,) = ecs.describe_tasks(cluster=CLUSTER, tasks=tasks)["tasks"]
    env = task["overrides"]["containerOverrides"][0]["environment"]
    assert env == [{"name": "JOB_IDS", "value": job["id"]}]
    db.expire_all()
    assert db.get(Job, uuid.UUID(job["id"])).external_ref == task["taskArn"]

    # Replaying the request (same Idempotency-Key) starts nothing new.
    key_headers = {**headers, "Idempotency-Key": "k1"}
    first = aws_client.post("/v1/detections", json={"image_id": image["id"]}, headers=key_headers).json()
    again = aws_client.post("/v1/detections", json={"image_id": image["id"]}, headers=key_headers).json()
    assert first["id"] == again["id"] and len(calls) == 2

    # The task entry point then completes the job with the predictor's detections.
    from app.locator import jobs as locator_jobs
    from app.locator.predictors import set_predictor
    from functions import locator_task

    set_predictor("detectron2-mask-rcnn", FixedPredictor(fixed_detections(160, 120)))
    locator_jobs.current_task_arn = task["taskArn"]
    assert locator_task.main([job["id"]]) == 0
    done = aws_client.get(f"/v1/jobs/{job['id']}", headers=headers).json()
    assert done["status"] == "succeeded"
    assert [d["label"] for d in done["output"]["detections"]] == ["dog", "person"]
    # ... and its drain ran the second queued job too (same task, no new RunTask).
    assert aws_client.get(f"/v1/jobs/{first['id']}", headers=headers).json()["status"] == "succeeded"
    assert len(calls) == 2


def _stub(ecs: Any) -> Stubber:
    stubber = Stubber(ecs)
    stubber.activate()
    return stubber


def test_runtask_failures_fail_the_job(aws_client, ecs, user) -> None:
    headers = auth_headers(aws_client, user)
    image = upload_image(aws_client, headers, png(scene(160, 120)[0]))
    stubber = _stub(ecs)
    stubber.add_response(
        "run_task",
        {
            "tasks": [],
            "failures": [
                {
                    "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/inpaint-test-locator/abc",
                    "reason": "RESOURCE:GPU",
                    "detail": "no container instance has a free GPU",
                }
            ],
        },
    )
    response = aws_client.post("/v1/detections", json={"image_id": image["id"]}, headers=headers)
    stubber.assert_no_pending_responses()
    assert response.status_code == 503
    job = response.json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "dispatch_failed"
    assert "RESOURCE:GPU" in job["error"]["message"] and "free GPU" in job["error"]["message"]


def test_runtask_error_fails_the_job(aws_client, ecs, user) -> None:
    headers = auth_headers(aws_client, user)
    image = upload_image(aws_client, headers, png(scene(160, 120)[0]))
    stubber = _stub(ecs)
    stubber.add_client_error(
        "run_task", service_error_code="ClientException", service_message="TaskDefinition is inactive"
    )
    response = aws_client.post("/v1/detections", json={"image_id": image["id"]}, headers=headers)
    assert response.status_code == 503
    job = response.json()
    assert job["status"] == "failed" and job["error"]["code"] == "dispatch_failed"
    assert "TaskDefinition is inactive" in job["error"]["message"]


def test_run_task_params_without_capacity_provider(settings) -> None:
    from app.locator.dispatch import run_task_params

    custom = settings.model_copy(
        update={
            "locator_cluster": "c",
            "locator_task_definition": "td:3",
            "locator_capacity_provider": None,
            "locator_subnets": [],
            "locator_container_name": "box",
        }
    )
    params = run_task_params(custom, "5d2a9e71-4c3b-4f68-a1d0-8b7e6c5f4a31")
    assert "capacityProviderStrategy" not in params and "launchType" not in params
    assert "networkConfiguration" not in params
    assert params["overrides"]["containerOverrides"][0]["name"] == "box"
    assert len(params["clientToken"]) <= 64
