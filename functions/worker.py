"""Worker Lambda: SQS batches of ``{"job_id": ...}``, with partial batch failure reporting.

Each message runs one job through the same code as the local runner. A job that fails or
succeeds is acknowledged either way (its state says what happened); only a message whose job
could not be handled at all is reported back, so SQS redelivers it and, after maxReceiveCount,
moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.jobs.runner import Outcome, run_job

# Report failures per item even when the whole batch fails, so the response always says which.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


logger = logging.getLogger("functions.worker")
# Kept back from the invocation's remaining time for loading, storing and committing a result.
FINISH_MARGIN_SECONDS = 30.0


class JobAbandoned(Exception):
    """Reported as a batch item failure so the message ends in the dead-letter queue."""


def settings_for(remaining_ms: int | None, settings: Settings) -> Settings:
    """The endpoint call budget never outlasts the invocation: whatever BatchSize or Timeout
    the template sets, a job ends (retry or fail, with its reason) before Lambda kills it."""
    if remaining_ms is None:
        return settings
    budget = max(1.0, remaining_ms / 1000 - FINISH_MARGIN_SECONDS)
    if budget >= settings.hf_call_budget_seconds:
        return settings
    return settings.model_copy(update={"hf_call_budget_seconds": budget})


def record_handler(record: SQSRecord, lambda_context: Any = None) -> str:
    """Every error is logged here: the batch processor only turns it into a batchItemFailures
    entry, which nobody reads, and the message's redelivery says nothing about why."""
    log = {"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count}
    try:
        job_id = json.loads(record.body)["job_id"]
    except (ValueError, TypeError, KeyError):
        logger.exception("job message is not {'job_id': ...}: left to the dead-letter queue", extra=log)
        raise
    log["job_id"] = str(job_id)
    try:
        remaining = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
        outcome = run_job(job_id, settings=settings_for(remaining, get_settings()))
    except Exception:
        logger.exception("job could not be run: the message will be redelivered", extra=log)
        raise
    if outcome == Outcome.GAVE_UP:
        logger.error("job failed after its attempts were spent: left to the dead-letter queue", extra=log)
        raise JobAbandoned(f"job {job_id} failed after its attempts were spent")
    return outcome


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging(get_settings().log_level)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
