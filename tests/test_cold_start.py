"""The API handler's import loads only what every request needs."""

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["boto3", "botocore", "alembic", "cv2", "numpy", "huggingface_hub", "detectron2", "torch", "PIL"]


def loaded_after_import(module: str) -> list[str]:
    return _printed_json(
        f"import json, sys; import {module}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )


def _printed_json(code: str) -> list[str]:
    """What a fresh interpreter running ``code`` printed last, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_api_handler_import_loads_no_heavy_module():
    assert loaded_after_import("functions.api") == []


def test_worker_import_loads_no_model_framework():
    loaded = loaded_after_import("functions.worker")
    assert "detectron2" not in loaded and "torch" not in loaded and "cv2" not in loaded


def test_api_handler_import_loads_no_domain_and_no_sqlalchemy():
    code = (
        "import json, sys; import functions.api; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy' or "
        "m.endswith('.router') and m != 'app.api.router')))"
    )
    assert _printed_json(code) == []


def _lazy_app():
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app()
    return app, TestClient(app)  # no `with`: no lifespan, so nothing is loaded up front, as on Lambda


def _included(app) -> list[str]:
    return list(app.state.routes._included)


def test_a_request_loads_only_the_domain_that_serves_it(db):
    app, client = _lazy_app()
    assert _included(app) == []
    assert client.get("/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 401
    assert _included(app) == ["app.jobs.router"]
    # A stage-prefixed path (root_path) is matched without its prefix.
    assert client.get("/v1/models", headers={}).status_code in (200, 401)
    assert set(_included(app)) == {"app.jobs.router", "app.catalog.router"}
    # /v1/images/{id}/detections lives in the locator's router: both are loaded for /v1/images.
    assert client.get("/v1/images/00000000-0000-0000-0000-000000000000/detections").status_code == 401
    assert {"app.images.router", "app.locator.router"} <= set(_included(app))


def test_an_unclaimed_path_loads_every_domain_in_declared_order(db):
    from app.api.router import DOMAINS

    app, client = _lazy_app()
    client.get("/v1/selections")  # one domain first, so order is really rebuilt afterwards
    assert client.get("/no/such/path").status_code == 404
    assert sorted(_included(app)) == sorted(d.module for d in DOMAINS)
    from tests.test_auth import _flat_routes

    eager = [path for path, _ in _flat_routes(app)]
    # Declared order: health first, the studio last, /v1/jobs before /v1/models.
    assert eager.index("/health") < eager.index("/v1/auth/token") < eager.index("/v1/jobs/{job_id}")
    assert eager.index("/v1/jobs/{job_id}") < eager.index("/v1/models") < eager.index("/")


def test_405_and_the_schema_see_every_route_however_lazily_loaded(db):
    _app, client = _lazy_app()
    response = client.delete("/v1/jobs")
    assert response.status_code == 405 and "GET" in response.headers["allow"]
    schema = client.get("/openapi.json").json()
    assert {"/health", "/v1/jobs/{job_id}", "/v1/inpaintings", "/v1/selections"} <= set(schema["paths"])
    fresh, _ = _lazy_app()
    assert fresh.openapi()["paths"].keys() == schema["paths"].keys()  # app.openapi() loads them too


def test_a_route_added_to_the_app_survives_loading_the_domains(db):
    app, client = _lazy_app()

    @app.get("/extra")
    def extra() -> dict[str, str]:
        return {"ok": "yes"}

    assert client.get("/no/such/path").status_code == 404  # loads every domain
    assert client.get("/extra").json() == {"ok": "yes"}
