"""Login throttling, bounded password hashing, JWT issuer/audience and published secrets,
disabling and deleting users."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user, png_bytes, upload_image


def _login(client, email: str, password: str):
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def test_account_is_throttled_after_failures_even_with_the_right_password(client, user, settings) -> None:
    for _ in range(settings.login_max_failures_per_account):
        assert _login(client, user.email, "wrong password").status_code == 401
    response = _login(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["Retry-After"]) <= settings.login_lockout_seconds


def test_success_clears_the_account_count(client, user, settings) -> None:
    for _ in range(settings.login_max_failures_per_account - 1):
        _login(client, user.email, "wrong password")
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200
    for _ in range(settings.login_max_failures_per_account - 1):
        _login(client, user.email, "wrong password")
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200


def test_client_is_throttled_across_accounts(client, db, settings) -> None:
    for index in range(settings.login_max_failures_per_client):
        _login(client, f"nobody-{index}@example.com", "wrong password")
    fresh = create_user(db)
    response = _login(client, fresh.email, DEFAULT_PASSWORD)
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_throttle_state_is_shared_through_the_database(client, user, settings) -> None:
    """A second app (another Lambda instance) sees the block the first one recorded."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    for _ in range(settings.login_max_failures_per_account):
        _login(client, user.email, "wrong password")
    with TestClient(create_app()) as other:
        assert _login(other, user.email, DEFAULT_PASSWORD).status_code == 429


def test_password_hashing_is_bounded(client, user, monkeypatch) -> None:
    from app.core import security

    monkeypatch.setenv("PASSWORD_HASH_CONCURRENCY", "1")
    monkeypatch.setenv("PASSWORD_HASH_WAIT_SECONDS", "0.2")
    from app.core.config import get_settings

    get_settings.cache_clear()
    security._hash_slots.cache_clear()
    try:
        slots, _ = security._hash_slots()
        assert slots.acquire(timeout=1)  # another login holds the only slot
        try:
            response = _login(client, user.email, DEFAULT_PASSWORD)
        finally:
            slots.release()
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200
    finally:
        security._hash_slots.cache_clear()


def test_tokens_carry_issuer_and_audience(client, user, settings) -> None:
    import jwt

    token = _login(client, user.email, DEFAULT_PASSWORD).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == settings.jwt_issuer and claims["aud"] == settings.jwt_audience
    foreign = jwt.encode(
        {"sub": str(user.id), "exp": claims["exp"], "typ": "access"},
        settings.jwt_secret.get_secret_value(),
        algorithm="HS256",
    )
    assert client.get("/v1/users/me", headers={"Authorization": f"Bearer {foreign}"}).status_code == 401


def test_aws_mode_refuses_dev_env_jwt_secret(monkeypatch) -> None:
    from app.core.config import REPO_ROOT, Settings, read_env_file
    from app.core.secrets import InsecureJwtSecret, jwt_secret

    published = read_env_file(REPO_ROOT / "dev.env")["JWT_SECRET"]
    monkeypatch.setenv("APP_MODE", "aws")
    monkeypatch.setenv("JWT_SECRET", published)
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    with pytest.raises(InsecureJwtSecret, match="JWT secret"):
        jwt_secret(Settings())
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(InsecureJwtSecret, match="at least 32"):
        jwt_secret(Settings())


def test_admin_disables_and_deletes_a_user(client, db, images_dir) -> None:
    admin = auth_headers(client, create_user(db, is_admin=True))
    victim = create_user(db)
    headers = auth_headers(client, victim)
    image = upload_image(client, headers, png_bytes())
    disabled = client.patch(f"/v1/users/{victim.id}", json={"is_active": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert client.get("/v1/users/me", headers=headers).status_code == 401
    assert _login(client, victim.email, DEFAULT_PASSWORD).status_code == 401

    assert client.delete(f"/v1/users/{victim.id}", headers=admin).status_code == 204
    assert client.delete(f"/v1/users/{victim.id}", headers=admin).status_code == 404
    assert not list(images_dir.rglob(f"{image['id']}*"))


def test_admin_cannot_disable_themselves_and_others_cannot_at_all(client, db, user_headers, user) -> None:
    admin_user = create_user(db, is_admin=True)
    admin = auth_headers(client, admin_user)
    assert client.delete(f"/v1/users/{admin_user.id}", headers=admin).status_code == 409
    assert (
        client.patch(f"/v1/users/{admin_user.id}", json={"is_active": False}, headers=user_headers).status_code == 403
    )
