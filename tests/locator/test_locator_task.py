"""functions.locator_task in-process, against moto S3 and the test database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.factories import png_bytes
from tests.locator.conftest import FixedPredictor, RaisingPredictor, fixed_detections, make_image, make_job


@pytest.fixture
def task_env(aws, seeded, db, user):
    from app.locator.predictors import set_predictor

    image = make_image(db, user.id, png_bytes(64, 48))
    fixed = FixedPredictor(fixed_detections(64, 48))
    set_predictor("detectron2-mask-rcnn", fixed)
    return {"image": image, "predictor": fixed}


def _job(db, job_id):
    from app.jobs.models import Job

    db.expire_all()
    return db.get(Job, job_id)


def test_jobs_from_env_succeed_with_the_predictors_detections(task_env, db, user, monkeypatch) -> None:
    from app.locator.models import Detection
    from functions import locator_task

    image = task_env["image"]
    job = make_job(db, owner_id=user.id, image_id=image.id, model="detectron2-mask-rcnn")
    monkeypatch.setenv("JOB_IDS", f" {job.id} ,not-a-uuid,")
    assert locator_task.main([]) == 0

    done = _job(db, job.id)
    assert done.status == "succeeded", (done.error_code, done.error_message)
    output = done.output
    assert (output["width"], output["height"]) == (64, 48)
    assert [(d["label"], d["score"], d["box"]) for d in output["detections"]] == [
        ("dog", 0.92, [20, 10, 50, 30]),
        ("person", 0.81, [5, 5, 15, 40]),
    ]
    assert output["detections"][0]["mask"]["size"] == [48, 64]
    assert "mask" not in output["detections"][1]

    rows = list(db.query(Detection).filter_by(job_id=job.id).order_by(Detection.rank))
    assert [str(r.id) for r in rows] == [d["id"] for d in output["detections"]]
    assert all(r.owner_id == user.id and r.image_id == image.id for r in rows)
    assert rows[0].id == uuid.uuid5(job.id, "detection/0")  # deterministic: a retry cannot duplicate


def test_a_failing_job_does_not_stop_the_others_and_the_drain_runs_the_rest(task_env, db, user) -> None:
    from app.core.config import get_settings
    from app.locator.predictors import set_predictor
    from functions import locator_task

    image = task_env["image"]
    set_predictor("opencv-locator", RaisingPredictor())
    bad = make_job(db, owner_id=user.id, image_id=image.id, model="opencv-locator")
    good = make_job(db, owner_id=user.id, image_id=image.id, model="detectron2-mask-rcnn", labels=["DOG"])
    extra = make_job(db, owner_id=user.id, image_id=image.id, model="detectron2-mask-rcnn")  # not passed

    summary = locator_task.run([bad.id, good.id], get_settings())

    failed = _job(db, bad.id)
    assert failed.status == "failed"
    assert failed.error_code == "internal_error"
    assert "RuntimeError: CUDA error: an illegal memory access" in failed.error_message
    assert _job(db, good.id).status == "succeeded"
    assert [d["label"] for d in _job(db, good.id).output["detections"]] == ["dog"]
    assert _job(db, extra.id).status == "succeeded"  # drained
    assert set(summary["jobs"]) == {str(bad.id), str(good.id), str(extra.id)}
    # The model was loaded once (one cached predictor), used for both of its jobs.
    assert task_env["predictor"].calls == [1, 1]


def test_unloadable_model_fails_the_job_with_the_reason(task_env, db, user, monkeypatch) -> None:
    """A detectron2 job whose model cannot load fails cleanly with the reason: without detectron2
    (the project's .venv) the missing library; with it (.venv-d2) the missing weights file."""
    from importlib.util import find_spec

    from app.locator.predictors import clear_predictors
    from functions import locator_task
    from tests.conftest import reset_app_state

    clear_predictors()
    monkeypatch.setenv("LOCATOR_WEIGHTS_URI", "/nonexistent/model_final.pkl")
    monkeypatch.setenv("LOCATOR_DEVICE", "cpu")
    reset_app_state()  # settings are cached: without this the task never sees the two lines above
    job = make_job(db, owner_id=user.id, image_id=task_env["image"].id, model="detectron2-mask-rcnn")
    assert locator_task.main([str(job.id)]) == 0
    failed = _job(db, job.id)
    assert failed.status == "failed" and failed.error_code == "model_unavailable"
    assert "could not be loaded" in failed.error_message
    expected = "/nonexistent/model_final.pkl" if find_spec("detectron2") else "detectron2"
    assert expected in failed.error_message


def test_missing_image_file_fails_the_job(task_env, db, user) -> None:
    from app.storage import get_storage
    from functions import locator_task

    image = task_env["image"]
    get_storage().delete(image.storage_key)
    job = make_job(db, owner_id=user.id, image_id=image.id, model="detectron2-mask-rcnn")
    locator_task.main([str(job.id)])
    failed = _job(db, job.id)
    assert failed.status == "failed" and failed.error_code == "image_not_found"


def test_job_ids_parsing() -> None:
    from functions.locator_task import job_ids_from

    a, b = uuid.uuid4(), uuid.uuid4()
    assert job_ids_from([str(a), f"{b},{a}"], {}) == [a, b]
    assert job_ids_from([], {"JOB_IDS": f"{a}, {b}"}) == [a, b]
    assert job_ids_from([], {}) == []
    # The task definition's command repeats the image's: those words are not job ids.
    assert job_ids_from(["python", "-m", "functions.locator_task"], {"JOB_IDS": str(b)}) == [b]


def test_weights_resolution(tmp_path, aws) -> None:
    from app.core import aws as aws_clients
    from app.locator.predictors.detectron2 import resolve_weights

    local = tmp_path / "model.pkl"
    local.write_bytes(b"weights")
    assert resolve_weights(str(local), tmp_path / "cache") == str(local)
    with pytest.raises(FileNotFoundError):
        resolve_weights(str(tmp_path / "missing.pkl"), tmp_path / "cache")
    with pytest.raises(ValueError):
        resolve_weights("ftp://example.com/w.pkl", tmp_path / "cache")

    aws_clients.client("s3").put_object(Bucket="inpaint-test-images", Key="weights/model.pkl", Body=b"from-s3")
    first = resolve_weights("s3://inpaint-test-images/weights/model.pkl", tmp_path / "cache")
    assert Path(first).read_bytes() == b"from-s3"
    aws_clients.client("s3").delete_object(Bucket="inpaint-test-images", Key="weights/model.pkl")
    assert resolve_weights("s3://inpaint-test-images/weights/model.pkl", tmp_path / "cache") == first  # cached


def test_weights_over_https(tmp_path, monkeypatch) -> None:
    import io
    import urllib.request

    from app.locator.predictors.detectron2 import resolve_weights

    opened = []

    def fake_urlopen(url, timeout):
        opened.append(url)
        return io.BytesIO(b"zoo-weights")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    url = "https://dl.fbaipublicfiles.com/detectron2/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x/137849600/model_final_f10217.pkl"
    path = resolve_weights(url, tmp_path)
    assert path.endswith("model_final_f10217.pkl") and Path(path).read_bytes() == b"zoo-weights"
    assert resolve_weights(url, tmp_path) == path and opened == [url]
