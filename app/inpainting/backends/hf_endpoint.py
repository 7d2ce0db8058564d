"""Stable Diffusion 2 inpainting on a Hugging Face Inference Endpoint (custom handler).

The handler's contract (philschmid/stable-diffusion-2-inpainting-endpoint under
huggingface-inference-toolkit; docs/hf-endpoint-fake.md gives each point with its source):
POST JSON ``{"inputs": prompt, "image": base64 PNG, "mask_image": base64 PNG,
"num_inference_steps", "guidance_scale", "negative_prompt", "width", "height"}`` with
``Content-Type: application/json`` (exactly) and ``Accept: image/png``; it answers the PNG.
``width``/``height`` default to 512x512 (so they are always sent: a non-square crop would be
stretched); there is no ``seed`` (the handler ignores it, so it is not sent); any exception in
the handler, CUDA out-of-memory included, is a 400 ``{"error": ...}``. huggingface_hub's InferenceClient does not speak
this contract (and 2.x has no raw ``post``), so the call is plain httpx; huggingface_hub is
used only to read and resume the endpoint by name.

Failures map onto the job engine: a waking endpoint (503) or a rate limit (429) that outlasts
a few short retries puts the job back in the queue (``RetryLater``); a 400 whose message is a
transient handler failure (out of GPU memory) is retried like a 5xx; any other 400 fails the job
with the endpoint's message; other errors are retried, then fail the job.
The token and the image bytes are never logged.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.core.config import Settings
from app.inpainting.backends.base import InpaintParams
from app.jobs.errors import JobFailed, RetryLater

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

logger = logging.getLogger(__name__)

NAME = "hf-endpoint"
MODEL_SIZE = 512
_STARTING = {"pending", "initializing", "updating"}
_BROKEN = {"failed", "updateFailed"}
_MAX_ERROR_CHARS = 500
# The toolkit answers 400 for every handler exception; these messages are the GPU's state at
# the moment, not the request's fault, so they are retried (lower-case substrings).
_TRANSIENT_400 = ("out of memory", "cublas_status_alloc_failed", "cuda error: an illegal memory access")


def fetch_endpoint(name: str, namespace: str | None, token: str | None) -> Any:
    """The endpoint's current state from the Hub API (``.status``, ``.url``, ``.resume()``).

    A module-level function so tests replace it: they must never reach the Hub.
    """
    from huggingface_hub import get_inference_endpoint

    return get_inference_endpoint(name, namespace=namespace, token=token)


class HFEndpointBackend:
    name = NAME
    honours_seed = False  # the handler never seeds its generator: every call is a new sample
    max_side = MODEL_SIZE
    upscale = True  # SD2 inpainting is trained at 512: small crops are scaled up to it
    size_multiple = 8

    def __init__(
        self,
        *,
        url: str | None,
        token: str | None,
        endpoint_name: str | None = None,
        namespace: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 80.0,
        scale_up_timeout: int = 45,
        max_attempts: int = 3,
        budget_seconds: float = 240.0,
        backoff_seconds: float = 5.0,
        max_sleep_seconds: float = 30.0,
        wake_retry_seconds: int = 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self.endpoint_name = endpoint_name
        self.namespace = namespace
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.scale_up_timeout = scale_up_timeout
        self.max_attempts = max(1, max_attempts)
        self.budget_seconds = budget_seconds
        self.backoff_seconds = backoff_seconds
        self.max_sleep_seconds = max_sleep_seconds
        self.wake_retry_seconds = wake_retry_seconds
        self._sleep = sleep
        self._clock = clock
        self._transport = transport

    def __repr__(self) -> str:  # never show the token
        return f"HFEndpointBackend(url={self.url!r}, endpoint_name={self.endpoint_name!r})"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> HFEndpointBackend:
        from app.core.secrets import hf_token

        options: dict[str, Any] = {
            "url": settings.hf_endpoint_url,
            "token": hf_token(settings),
            "endpoint_name": settings.hf_endpoint_name,
            "namespace": settings.hf_endpoint_namespace,
            "connect_timeout": settings.hf_connect_timeout,
            "read_timeout": settings.hf_read_timeout,
            "scale_up_timeout": settings.hf_scale_up_timeout,
            "max_attempts": settings.hf_max_attempts,
            "budget_seconds": settings.hf_call_budget_seconds,
            "wake_retry_seconds": settings.hf_wake_retry_seconds,
        }
        options.update(overrides)
        return cls(**options)

    # --- the call ------------------------------------------------------------------------

    def inpaint(self, image: Image, mask: Image, params: InpaintParams) -> Image:
        import httpx

        url = self._url_after_wake()
        body = self._body(image, mask, params)
        headers = self._headers()
        started = self._clock()
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._post(url, body, headers)
            except httpx.TransportError as exc:  # timeouts, refused or reset connections
                problem = type(exc).__name__
                self._log_attempt(attempt, None, problem)
                wait = self._backoff(attempt)
                if self._out_of_tries(attempt, started, wait):
                    raise JobFailed(
                        "endpoint_unreachable",
                        f"the inpainting endpoint did not answer after {attempt} attempts ({problem})",
                    ) from exc
                self._sleep(wait)
                continue

            status = response.status_code
            self._log_attempt(attempt, status, None)
            if status == 200:
                return _decode_png(response)
            if status == 503:
                wait = self._backoff(attempt)
                if self._out_of_tries(attempt, started, wait):
                    raise RetryLater(
                        "inpainting endpoint is starting up (scaled to zero or initializing); "
                        f"the job will be retried in about {self.wake_retry_seconds} s",
                        delay_seconds=self.wake_retry_seconds,
                    )
                self._sleep(wait)
                continue
            if status == 429:
                retry_after = _retry_after_seconds(response)
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                # A long Retry-After is waited out in the queue, not in a billed Lambda.
                if wait > self.max_sleep_seconds or self._out_of_tries(attempt, started, wait):
                    delay = max(1, math.ceil(retry_after)) if retry_after is not None else self.wake_retry_seconds
                    raise RetryLater(
                        f"inpainting endpoint is rate limiting requests; the job will be retried in about {delay} s",
                        delay_seconds=delay,
                    )
                self._sleep(wait)
                continue
            if status in (401, 403):
                raise JobFailed("endpoint_unauthorized", f"the inpainting endpoint refused the token (HTTP {status})")
            if 400 <= status < 500 and not (status == 400 and _is_transient(response)):
                raise JobFailed("endpoint_rejected", _error_message(response))
            problem = f"HTTP {status}: {_error_message(response)}"
            wait = self._backoff(attempt)
            if self._out_of_tries(attempt, started, wait):
                raise JobFailed("endpoint_error", f"the inpainting endpoint failed {attempt} times; last: {problem}")
            self._sleep(wait)
        raise AssertionError("unreachable")  # _out_of_tries is true on the last attempt

    def _out_of_tries(self, attempt: int, started: float, wait: float) -> bool:
        """No retry after the last attempt, nor when the wait plus a full read timeout would
        overrun the run's budget: the worker Lambda must end the job, not be killed in it."""
        if attempt >= self.max_attempts:
            return True
        return self._clock() - started + wait + self.read_timeout > self.budget_seconds

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        import httpx

        timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        with httpx.Client(timeout=timeout, transport=self._transport, follow_redirects=False) as client:
            return client.post(url, content=body, headers=headers)

    def _body(self, image: Image, mask: Image, params: InpaintParams) -> bytes:
        # The pipeline generates width x height (default 512x512, whatever the input's shape) and
        # needs both divisible by 8; the strategy already gives multiples of 8, this makes sure.
        width, height = (max(self.size_multiple, side - side % self.size_multiple) for side in image.size)
        if (width, height) != image.size:
            image, mask = image.resize((width, height)), mask.resize((width, height))
        payload: dict[str, Any] = {
            "inputs": params.prompt,
            "image": _png_base64(image.convert("RGB")),
            "mask_image": _png_base64(mask.convert("L")),  # PNG: a lossy mask would leak
            "num_inference_steps": params.num_inference_steps,
            "guidance_scale": params.guidance_scale,
            "negative_prompt": params.negative_prompt or "",
            "width": width,
            "height": height,
        }
        # No "seed": the handler ignores it (HONOURS_SEED below), so sending it would only suggest otherwise.
        return json.dumps(payload).encode()

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "image/png",
            "Content-Type": "application/json",
            "X-Scale-Up-Timeout": str(self.scale_up_timeout),
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_sleep_seconds)

    def _log_attempt(self, attempt: int, status: int | None, problem: str | None) -> None:
        logger.info(
            "inpainting endpoint call",
            extra={"attempt": attempt, "max_attempts": self.max_attempts, "http_status": status, "problem": problem},
        )

    # --- waking a paused endpoint ------------------------------------------------------------

    def _url_after_wake(self) -> str:
        """Where to POST; when the endpoint is known by name, first make sure it can answer.

        A scaled-to-zero endpoint wakes on the request itself (X-Scale-Up-Timeout lets the
        proxy hold it meanwhile); a paused one only on an explicit resume, which is asked for
        here before the job goes back to the queue to wait.
        """
        url = self.url
        if self.endpoint_name:
            url = self._wake() or url
        if not url:
            raise JobFailed("endpoint_not_configured", "no inpainting endpoint is configured (HF_ENDPOINT_URL)")
        return url

    def _wake(self) -> str | None:
        try:
            endpoint = fetch_endpoint(self.endpoint_name or "", self.namespace, self._token)
        except Exception as exc:
            # Best effort: the Hub API being down must not stop calls to a running endpoint.
            logger.warning("could not read the inpainting endpoint's state", extra={"error": type(exc).__name__})
            return None
        state = str(getattr(endpoint.status, "value", endpoint.status))
        logger.info("inpainting endpoint state", extra={"endpoint_state": state})
        if state == "paused":
            try:
                endpoint.resume()
            except Exception as exc:
                logger.warning("resuming the inpainting endpoint failed", extra={"error": type(exc).__name__})
            raise RetryLater(
                "inpainting endpoint was paused and is being resumed; "
                f"the job will be retried in about {self.wake_retry_seconds} s",
                delay_seconds=self.wake_retry_seconds,
            )
        if state in _STARTING:
            raise RetryLater(
                f"inpainting endpoint is starting up ({state}); the job will be retried in about "
                f"{self.wake_retry_seconds} s",
                delay_seconds=self.wake_retry_seconds,
            )
        if state in _BROKEN:
            raise JobFailed("endpoint_unavailable", f"the inpainting endpoint is in state {state!r}")
        return getattr(endpoint, "url", None)


# --- helpers ---------------------------------------------------------------------------------


def _png_base64(image: Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _decode_png(response: httpx.Response) -> Image:
    from PIL import Image as PILImage

    content_type = response.headers.get("content-type", "")
    try:
        with PILImage.open(io.BytesIO(response.content)) as result:
            result.load()
            return result.convert("RGB")
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise JobFailed(
            "bad_endpoint_response",
            f"the inpainting endpoint answered 200 with a body that is not an image "
            f"({content_type or 'no content-type'}, {len(response.content)} bytes)",
        ) from exc


def _error_message(response: httpx.Response) -> str:
    """The handler's ``{"error": ...}`` message, else the start of the body."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("error"):
        message = str(document["error"])
    else:
        message = response.text.strip() or f"HTTP {response.status_code}"
    return message[:_MAX_ERROR_CHARS]


def _is_transient(response: httpx.Response) -> bool:
    message = _error_message(response).lower()
    return any(marker in message for marker in _TRANSIENT_400)


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
