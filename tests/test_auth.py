from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user, token_for


def test_token_and_me(client, user):
    headers = auth_headers(client, user)
    response = client.get("/v1/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == user.email
    assert "hashed_password" not in response.json()


def test_wrong_password_and_unknown_user_are_401(client, user):
    for username, password in [(user.email, "wrong password"), ("nobody@example.com", DEFAULT_PASSWORD)]:
        response = client.post("/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def _flat_routes(app) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through FastAPI's included-router nodes."""
    flat = []
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            original = getattr(context, "original_route", context)
            flat.append((context.path, set(getattr(original, "methods", None) or ())))
    return flat


def test_every_route_but_health_and_docs_needs_auth(client, app):
    open_paths = {"/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/v1/auth/token"}
    app.state.routes.load_all()  # every domain's routes, not only those requests have needed so far
    routes = _flat_routes(app)
    assert len(routes) > 25 and ("/v1/jobs/{job_id}", {"GET"}) in routes  # the walk sees them all
    checked = 0
    for path, methods in routes:
        if path in open_paths or path.startswith("/files/") or path == "/" or path.startswith("/studio/"):
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            concrete = path.replace("{image_id:uuid}", "{image_id}").replace(
                "{image_id}", "00000000-0000-0000-0000-000000000000"
            )
            concrete = concrete.replace("{job_id}", "00000000-0000-0000-0000-000000000000")
            concrete = concrete.replace("{key_id}", "00000000-0000-0000-0000-000000000000")
            concrete = concrete.replace("{user_id}", "00000000-0000-0000-0000-000000000000")
            response = client.request(method, concrete)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 20


def test_garbage_and_expired_tokens_are_401(client, user, settings):
    from app.core.security import create_access_token

    expired, _ = create_access_token(subject=str(user.id), secret=settings.jwt_secret.get_secret_value(), minutes=-1)
    for credential in ["not-a-token", expired, "ipk_not-a-real-key"]:
        response = client.get("/v1/users/me", headers={"Authorization": f"Bearer {credential}"})
        assert response.status_code == 401


def test_api_key_lifecycle(client, user, db):
    headers = auth_headers(client, user)
    created = client.post("/v1/api-keys", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("ipk_")
    key_headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/users/me", headers=key_headers).json()["id"] == str(user.id)

    listed = client.get("/v1/api-keys", headers=headers).json()
    assert [item["name"] for item in listed] == ["laptop"]
    assert "key" not in listed[0]  # shown once only

    from app.users.models import ApiKey

    stored = db.query(ApiKey).one()
    assert stored.key_hash != key and key not in stored.key_hash  # only the hash is kept

    assert client.delete(f"/v1/api-keys/{created.json()['id']}", headers=headers).status_code == 204
    assert client.get("/v1/users/me", headers=key_headers).status_code == 401


def test_another_users_api_key_is_404(client, db, user):
    other = create_user(db)
    key_id = client.post("/v1/api-keys", json={"name": "x"}, headers=auth_headers(client, other)).json()["id"]
    response = client.delete(f"/v1/api-keys/{key_id}", headers=auth_headers(client, user))
    assert response.status_code == 404


def test_admin_creates_and_lists_users(client, db, user):
    admin = create_user(db, is_admin=True)
    admin_headers = auth_headers(client, admin)
    response = client.post(
        "/v1/users", json={"email": "New@Example.com", "password": "long enough pw"}, headers=admin_headers
    )
    assert response.status_code == 201
    assert response.json()["email"] == "new@example.com"
    assert token_for(client, "new@example.com", "long enough pw")
    duplicate = client.post(
        "/v1/users", json={"email": "new@example.com", "password": "long enough pw"}, headers=admin_headers
    )
    assert duplicate.status_code == 409
    page = client.get("/v1/users?limit=2", headers=admin_headers).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"/v1/users?limit=2&cursor={page['next_cursor']}", headers=admin_headers).json()
    emails = {item["email"] for item in page["items"] + rest["items"]}
    assert emails == {admin.email, user.email, "new@example.com"}


def test_non_admin_cannot_manage_users(client, user):
    headers = auth_headers(client, user)
    assert client.get("/v1/users", headers=headers).status_code == 403
    response = client.post("/v1/users", json={"email": "x@example.com", "password": "long enough pw"}, headers=headers)
    assert response.status_code == 403


def test_bad_input_is_422(client, db):
    admin = create_user(db, is_admin=True)
    response = client.post(
        "/v1/users", json={"email": "not-an-email", "password": "short"}, headers=auth_headers(client, admin)
    )
    assert response.status_code == 422


def test_logs_are_json_with_request_ids_and_no_credentials(client, user):
    import io
    import logging

    from app.core.logging import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        _exercise_credentials(client, user, stream)
    finally:
        logging.getLogger().removeHandler(handler)


def _exercise_credentials(client, user, stream):
    import json

    headers = auth_headers(client, user)
    key = client.post("/v1/api-keys", json={"name": "k"}, headers=headers).json()["key"]
    client.get("/v1/users/me", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "trace-123"})
    client.post("/v1/auth/token", data={"username": user.email, "password": "wrong password"})
    output = stream.getvalue()
    token = headers["Authorization"].removeprefix("Bearer ")
    for secret in (token, key, DEFAULT_PASSWORD, "wrong password"):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access and all(line["request_id"] for line in access)
    assert any(line["request_id"] == "trace-123" and line["path"] == "/v1/users/me" for line in access)


def test_a_remembered_token_still_expires_and_a_forged_one_is_never_taken(monkeypatch):
    from app.core import security

    secret = "x" * 40
    token, _ = security.create_access_token(subject="user-1", secret=secret, minutes=1)
    assert security.decode_access_token(token, secret=secret) == "user-1"
    assert security.decode_access_token(token, secret=secret) == "user-1"  # remembered
    assert security._verified_token.cache_info().hits >= 1
    # Another secret (a rotation), a flipped signature: verified afresh, refused.
    assert security.decode_access_token(token, secret="y" * 40) is None
    assert (
        security.decode_access_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], secret=secret) is None
    )
    # The expiry is checked on every use, remembered or not.
    later = security.time.time() + 61
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert security.decode_access_token(token, secret=secret) is None
