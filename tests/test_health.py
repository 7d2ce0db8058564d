from app.core import db as core_db


def test_health_reports_database_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.headers["x-request-id"]


def test_health_is_503_when_database_unreachable(client, monkeypatch):
    from sqlalchemy import create_engine

    dead = create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(core_db.SessionLocal, "kw", {**core_db.SessionLocal.kw, "bind": dead})
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_docs_and_openapi_render(client):
    assert client.get("/docs").status_code == 200
    assert "swagger-ui" in client.get("/docs").text
    assert client.get("/redoc").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/v1/images" in schema["paths"]
    assert schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == (
        "v1/auth/token"
    )
