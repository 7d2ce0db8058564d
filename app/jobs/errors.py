"""How job code tells the engine what happened, besides returning an output."""

from __future__ import annotations


class JobFailed(Exception):
    """The job cannot succeed: it ends ``failed`` with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RetryLater(Exception):
    """Not now (an endpoint waking, rate limits): the job goes back to ``queued`` with this
    message visible to the user, and is tried again after ``delay_seconds``."""

    def __init__(self, message: str, delay_seconds: int = 60) -> None:
        super().__init__(message)
        self.message = message
        self.delay_seconds = delay_seconds
