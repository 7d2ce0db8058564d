"""Worker Lambda: SQS batches of ``{"job_id": ...}``, with partial batch failure reporting.

Each message runs one job through the same code as the local runner. A job that fails or
succeeds is acknowledged either way (its state says what happened); only a message whose job
could not be handled at all is reported back, so SQS redelivers it and, after maxReceiveCount,
moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.jobs.runner import Outcome, run_job

# Report failures per item even when the whole batch fails, so the response always says which.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class JobAbandoned(Exception):
    """Reported as a batch item failure so the message ends in the dead-letter queue."""


def record_handler(record: SQSRecord) -> str:
    job_id = json.loads(record.body)["job_id"]
    outcome = run_job(job_id)
    if outcome == Outcome.GAVE_UP:
        raise JobAbandoned(f"job {job_id} failed after its attempts were spent")
    return outcome


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging(get_settings().log_level)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
