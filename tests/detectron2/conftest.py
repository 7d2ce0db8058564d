"""The locator on the real Detectron2 (CPU). Run by scripts/test-detectron2.sh in .venv-d2.

Without detectron2 installed (the project's own .venv) nothing here is collected: these tests
need torch, torchvision, detectron2 and scikit-image's sample photos, which only that step
installs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

if find_spec("detectron2") is None or find_spec("skimage") is None:
    collect_ignore_glob = ["test_*.py"]

# The locator fixtures (moto S3 in APP_MODE=aws, the seeded registry, job factories).
from tests.locator.conftest import aws, seeded  # noqa: F401


@pytest.fixture(scope="session")
def checkpoint_state() -> dict[str, Any]:
    from tests.detectron2 import support

    model = support.build_model()
    return support.state_of(model)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, checkpoint_state: dict[str, Any]) -> Path:
    """A Mask R-CNN R50-FPN checkpoint in the model zoo's .pkl format (random, biased weights)."""
    from tests.detectron2 import support

    return support.save_zoo_pickle(tmp_path_factory.mktemp("weights") / "model_random.pkl", checkpoint_state)


def _misfit_checkpoints(directory: Path, state: dict[str, Any]) -> dict[str, Path]:
    from tests.detectron2.support import save_zoo_pickle

    fewer_classes = dict(state)
    for name in ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias"):
        fewer_classes[name] = state[name][:11]
    for name in ("roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias"):
        fewer_classes[name] = state[name][:40]
    no_masks = {name: value for name, value in state.items() if not name.startswith("roi_heads.mask_head.")}
    garbage = directory / "garbage.pkl"
    garbage.write_bytes(b"<html>403 Forbidden</html>")  # what a proxy answers instead of the file
    return {
        "empty": save_zoo_pickle(directory / "empty.pkl", {}),
        "fewer_classes": save_zoo_pickle(directory / "fewer_classes.pkl", fewer_classes),
        "no_mask_head": save_zoo_pickle(directory / "no_mask_head.pkl", no_masks),
        "garbage": garbage,
    }


@pytest.fixture(scope="session")
def misfits(tmp_path_factory: pytest.TempPathFactory, checkpoint_state: dict[str, Any]) -> dict[str, Path]:
    """Checkpoints that do not fit the model (or are no checkpoint at all), by name."""
    return _misfit_checkpoints(tmp_path_factory.mktemp("misfits"), checkpoint_state)


@pytest.fixture(autouse=True)
def _fresh_predictors() -> Iterator[None]:
    from app.locator.predictors import clear_predictors

    clear_predictors()
    yield
    from app.locator import dispatch, jobs

    clear_predictors()
    dispatch.running_in_task = False
    jobs.current_task_arn = None


@pytest.fixture
def locator_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checkpoint: Path) -> dict[str, str]:
    """Settings for Detectron2 on the CPU with the test checkpoint; call ``apply()`` after changes."""
    from tests.conftest import reset_app_state

    values = {
        "LOCATOR_WEIGHTS_URI": str(checkpoint),
        "LOCATOR_DEVICE": "cpu",
        "LOCATOR_CACHE_DIR": str(tmp_path / "locator-cache"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_app_state()
    return values


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str | None) -> None:
    """Change settings mid-test: cached settings and predictors are dropped."""
    from app.locator.predictors import clear_predictors
    from tests.conftest import reset_app_state

    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_app_state()
    clear_predictors()


def subprocess_env(**extra: str) -> dict[str, str]:
    """A clean environment for a fresh interpreter: no dev.env, no proxy to the internet."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOCATOR_", "AWS_ENDPOINT", "S3_", "DATABASE_URL", "STORAGE_DIR", "APP_MODE"))
    }
    # Nothing here may reach the internet: a download attempt fails at once instead.
    env.update(
        {"ENV_PATH": "/nonexistent/test.env", "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    )
    env.update(extra)
    return env
