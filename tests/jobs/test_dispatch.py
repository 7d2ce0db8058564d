"""Which runner a job goes to: by mode and by its model's backend."""

import pytest

from app.core.config import Settings
from app.jobs.dispatch import DispatchError, LocalDispatcher, SqsDispatcher, get_dispatcher

AWS = {
    "app_mode": "aws",
    "jwt_secret": "x" * 40,
    "job_queue_url": "https://sqs.example/q",
    "locator_cluster": "gpu",
    "locator_task_definition": "locator:1",
}


def test_local_mode_runs_everything_in_process():
    settings = Settings(app_mode="local")
    for backend in ("opencv", "hf-endpoint", "opencv-locator", "detectron2"):
        assert isinstance(get_dispatcher(backend, settings), LocalDispatcher)


def test_aws_mode_sends_gpu_models_to_ecs_and_the_rest_to_sqs():
    from app.locator.dispatch import EcsDispatcher

    settings = Settings(**AWS)
    assert isinstance(get_dispatcher("detectron2", settings), EcsDispatcher)
    for backend in ("opencv", "hf-endpoint", "opencv-locator"):
        assert isinstance(get_dispatcher(backend, settings), SqsDispatcher)


def test_aws_mode_without_a_queue_refuses():
    with pytest.raises(DispatchError, match="JOB_QUEUE_URL"):
        get_dispatcher("opencv", Settings(**{**AWS, "job_queue_url": None}))
