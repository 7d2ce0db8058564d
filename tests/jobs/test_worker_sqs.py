"""The worker Lambda on SQS (moto): dispatch, partial batch failures, sample events."""

import json
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from moto import mock_aws

from app.core import aws
from app.core.db import utcnow
from app.jobs.dispatch import SqsDispatcher
from app.jobs.models import Job
from tests.jobs import support

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONTEXT = SimpleNamespace(
    aws_request_id="worker-test", function_name="WorkerFunction", get_remaining_time_in_millis=lambda: 300_000
)


@pytest.fixture
def sqs_queue():
    with mock_aws():
        aws.reset()
        sqs = aws.client("sqs")
        queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        yield sqs, queue_url
    aws.reset()


def as_sqs_event(messages):
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def test_sqs_dispatch_then_worker_runs_the_job(sqs_queue, make_job, reload):
    from functions.worker import handler

    sqs, queue_url = sqs_queue
    job = make_job()
    SqsDispatcher(queue_url).dispatch(job.id)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"job_id": str(job.id)}]
    assert handler(as_sqs_event(messages), CONTEXT) == {"batchItemFailures": []}
    assert reload(job.id).status == "succeeded"
    # the same message delivered again does nothing
    assert handler(as_sqs_event(messages), CONTEXT) == {"batchItemFailures": []}
    assert len(support.CALLS) == 1


def test_sample_event_replays_and_spent_job_goes_to_the_dead_letter_queue(make_job, reload, settings):
    from functions.worker import handler

    event = json.loads((EVENTS / "sqs_job_batch.json").read_text())
    finished_id, crashed_id = (uuid.UUID(json.loads(r["body"])["job_id"]) for r in event["Records"][:2])
    make_job(id=finished_id, status="succeeded")
    make_job(
        id=crashed_id,
        status="running",
        attempts=settings.job_max_attempts,
        lease_expires_at=utcnow() - timedelta(seconds=1),
    )
    response = handler(event, CONTEXT)
    # the finished job's message is acknowledged; the spent one is reported so SQS moves it to the DLQ
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert reload(crashed_id).status == "failed" and reload(crashed_id).error_code == "max_attempts"
    assert reload(finished_id).status == "succeeded"
    assert support.CALLS == []


def test_malformed_message_is_reported_not_lost(db):
    from functions.worker import handler

    event = {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "r",
                "body": "not json",
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
                "awsRegion": "us-east-1",
            }
        ]
    }
    assert handler(event, CONTEXT) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_requeued_job_goes_back_on_the_queue_with_a_delay(sqs_queue, make_job, reload, monkeypatch):
    from app.jobs.errors import RetryLater
    from functions.worker import handler

    sqs, queue_url = sqs_queue
    monkeypatch.setenv("APP_MODE", "aws")
    monkeypatch.setenv("JOB_QUEUE_URL", queue_url)
    from tests.conftest import reset_app_state

    reset_app_state()
    aws.client("sqs")  # within mock_aws
    job = make_job()

    def waking(ctx):
        raise RetryLater("inpainting endpoint is starting up", delay_seconds=0)

    support.BEHAVIOUR["run"] = waking
    SqsDispatcher(queue_url).dispatch(job.id)
    first = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert handler(as_sqs_event(first), CONTEXT) == {"batchItemFailures": []}
    assert reload(job.id).status == "queued"
    again = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(again[0]["Body"]) == {"job_id": str(job.id)}
    assert Job  # the job is still the same row; nothing was lost
