"""Storage that fails a write: a clear 507/503 (never 500), nothing left behind, no server
paths in what users see. Concurrent identical writes never collide. (Issue 14 #5, #7, #8.)"""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from app.storage import StorageError
from tests.factories import png_bytes


def _no_temp_files(folder: Path) -> None:
    assert [p.name for p in folder.rglob("*.part")] == []


def test_identical_concurrent_writes_do_not_collide(db, images_dir):
    """#5: two first submits of the same mask wrote one shared ``<mask>.part``: one failed."""
    from app.storage import get_storage

    storage = get_storage()
    errors: list[BaseException] = []
    for round_ in range(20):
        barrier = threading.Barrier(8)

        def write(n: int, round_: int = round_) -> None:
            barrier.wait()
            try:
                storage.put(f"masks/same-{round_}.png", b"x" * (64 * 1024), "image/png")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    _no_temp_files(images_dir)


@pytest.mark.parametrize(
    ("error", "status"), [(errno.ENOSPC, 507), (errno.EROFS, 503), (errno.EIO, 503)], ids=["full", "read-only", "io"]
)
def test_upload_when_storage_refuses_the_write(client, user_headers, images_dir, monkeypatch, error, status):
    """#7: 507 (full) or 503 (read-only, failing) with Retry-After; no .part file, no path."""
    real_write = Path.write_bytes
    written: list[Path] = []

    def failing_write(self: Path, data: bytes) -> int:
        real_write(self, data[: len(data) // 2])  # half a file, then the disk gives out
        written.append(self)
        raise OSError(error, "simulated", str(self))

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    response = client.post("/v1/images", headers=user_headers, files={"file": ("p.png", png_bytes(), "image/png")})
    assert response.status_code == status, response.text
    assert int(response.headers["retry-after"]) > 0
    assert str(images_dir) not in response.text and "/" not in response.json()["detail"]
    assert written and not any(path.exists() for path in written)
    _no_temp_files(images_dir)
    monkeypatch.undo()
    assert client.get("/v1/images", headers=user_headers).json()["items"] == []  # no row either


def test_job_error_shows_no_server_path(db, make_job, reload, settings, images_dir, monkeypatch):
    """#7: a job that cannot write its output fails with a reason, not the storage folder."""
    from app.jobs.runner import Outcome, run_job

    monkeypatch.setattr(settings, "job_max_attempts", 1)
    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    job = make_job()
    assert run_job(job.id, settings=settings) == Outcome.FAILED
    monkeypatch.setattr(Path, "write_bytes", real_write)
    failed = reload(job.id)
    assert failed.error_code == "internal_error"
    assert "storage is full" in failed.error_message
    assert str(images_dir) not in failed.error_message and "/" not in failed.error_message


def test_storage_error_classification():
    assert StorageError.from_os_error(OSError(errno.ENOSPC, "x")).full
    assert not StorageError.from_os_error(OSError(errno.EROFS, "x")).full


def test_direct_upload_link_closes_after_complete(client, user_headers, settings):
    """#8: the local PUT link of a direct upload stops working once the upload is completed."""
    started = client.post(
        "/v1/images/uploads", headers=user_headers, json={"content_type": "image/png", "bytes": 2000}
    ).json()
    url = started["upload"]["url"].replace("http://testserver", "")
    assert client.put(url, content=png_bytes(), headers={"Content-Type": "image/png"}).status_code == 204
    done = client.post(f"/v1/images/{started['image']['id']}/complete", headers=user_headers)
    assert done.status_code == 200, done.text
    again = client.put(url, content=png_bytes(color=(1, 2, 3)), headers={"Content-Type": "image/png"})
    assert again.status_code == 409
