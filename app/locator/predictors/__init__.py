"""Locator predictors by backend, loaded once per process and kept (a module-level cache).

The Detectron2 predictor imports torch and detectron2 only when it is built, i.e. only in
the locator task (or a local server configured for it): the API and the worker never import them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from app.locator.predictors.base import Predictor, PredictorUnavailable, RawDetection

if TYPE_CHECKING:
    from app.core.config import Settings

__all__ = ["Predictor", "PredictorUnavailable", "RawDetection", "clear_predictors", "get_predictor", "set_predictor"]

BACKENDS = ("opencv-locator", "detectron2")

_cache: dict[str, Predictor] = {}
_lock = threading.Lock()


def build_predictor(backend: str, settings: Settings, defaults: dict[str, Any] | None = None) -> Predictor:
    """A new predictor; ``PredictorUnavailable`` (with the reason) when it cannot be loaded here."""
    defaults = defaults or {}
    if backend == "opencv-locator":
        from app.locator.predictors.opencv import OpenCVLocator

        return OpenCVLocator(**{k: v for k, v in defaults.items() if k in OpenCVLocator.TUNABLE})
    if backend == "detectron2":
        try:
            from app.locator.predictors.detectron2 import Detectron2Predictor

            return Detectron2Predictor(
                config_name=defaults.get("config_name") or settings.locator_config_name,
                weights_uri=defaults.get("weights_uri") or settings.locator_weights_uri or None,
                device=settings.locator_device,
                cache_dir=settings.locator_cache_dir,
            )
        except PredictorUnavailable:
            raise
        except Exception as exc:
            # No detectron2, no GPU driver, weights missing, not downloadable or unreadable:
            # loading again in this process gives the same answer, so the job fails with it
            # (model_unavailable) instead of being retried into internal_error.
            raise PredictorUnavailable(f"{type(exc).__name__}: {exc}") from exc
    raise PredictorUnavailable(f"unknown locator backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def get_predictor(model_row: Any, settings: Settings) -> Predictor:
    """The predictor of a ``models`` row (``name``, ``backend``, ``defaults``), built on first use."""
    name = model_row.name
    with _lock:  # also serialises a slow first load: one copy of the weights in memory
        predictor = _cache.get(name)
        if predictor is None:
            predictor = build_predictor(model_row.backend, settings, dict(model_row.defaults or {}))
            _cache[name] = predictor
        return predictor


def set_predictor(model_name: str, predictor: Predictor) -> None:
    """Use this predictor for the model (tests; a task that preloads)."""
    with _lock:
        _cache[model_name] = predictor


def clear_predictors() -> None:
    with _lock:
        _cache.clear()
