import json
import uuid

import pytest
from pydantic import ValidationError

from app.core.config import Settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("APP_MODE", "JWT_SECRET", "CORS_ORIGINS", "STAGE", "ENV_SECTION", "JWT_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_dotenv_file_and_env_override(tmp_path, clean_env):
    env_file = tmp_path / "x.env"
    env_file.write_text("STAGE=from-file\nCORS_ORIGINS=https://a.example, https://b.example\nMAX_UPLOAD_BYTES=123\n")
    clean_env.setenv("ENV_PATH", str(env_file))
    settings = Settings()
    assert settings.stage == "from-file"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_upload_bytes == 123
    clean_env.setenv("STAGE", "from-env")
    assert Settings().stage == "from-env"


def test_sam_env_vars_json_with_function_section(tmp_path, clean_env):
    env_file = tmp_path / "prod_env.json"
    env_file.write_text(
        json.dumps(
            {
                "Parameters": {"STAGE": "prod", "LOG_LEVEL": "WARNING"},
                "WorkerFunction": {"LOG_LEVEL": "DEBUG"},
            }
        )
    )
    clean_env.setenv("ENV_PATH", str(env_file))
    assert (Settings().stage, Settings().log_level) == ("prod", "WARNING")
    clean_env.setenv("ENV_SECTION", "WorkerFunction")
    assert Settings().log_level == "DEBUG"


def test_configuration_is_never_evaluated(tmp_path, clean_env):
    env_file = tmp_path / "x.env"
    env_file.write_text("STAGE=__import__('os').system('touch /tmp/pwned')\n")
    clean_env.setenv("ENV_PATH", str(env_file))
    assert Settings().stage == "__import__('os').system('touch /tmp/pwned')"


def test_aws_mode_refuses_default_jwt_secret_where_it_is_used(clean_env):
    from app.core.secrets import InsecureJwtSecret, jwt_secret

    clean_env.setenv("APP_MODE", "aws")
    # Every function starts without JWT_SECRET_ARN (only the API gets one from template.yaml)...
    settings = Settings()
    assert settings.is_aws
    # ...but nothing signs or checks a token with the default secret.
    with pytest.raises(InsecureJwtSecret, match="default JWT secret"):
        jwt_secret(settings)
    clean_env.setenv("JWT_SECRET", "x" * 40)
    assert jwt_secret(Settings()) == "x" * 40


@pytest.mark.parametrize("name", ["LOCAL_WORKERS", "MAX_CONCURRENT_REQUESTS"])
def test_zero_workers_or_request_slots_is_a_clear_configuration_error(clean_env, name):
    """LOCAL_WORKERS=0 used to start a server that crashed on the first submit
    (ThreadPoolExecutor(0)); now the setting itself is refused, by name."""
    clean_env.setenv(name, "0")
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_aws_mode_refuses_wildcard_cors(clean_env):
    clean_env.setenv("APP_MODE", "aws")
    clean_env.setenv("JWT_SECRET", "x" * 40)
    clean_env.setenv("CORS_ORIGINS", "*")
    with pytest.raises(ValidationError, match="CORS"):
        Settings()


def test_database_password_from_rds_managed_secret(clean_env, moto_server, monkeypatch):
    from app.core import aws
    from app.core.db import database_url

    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    aws.reset()
    arn = aws.client("secretsmanager").create_secret(
        Name=f"rds-{uuid.uuid4().hex[:6]}", SecretString=json.dumps({"username": "app", "password": "s3cr3t"})
    )["ARN"]
    settings = Settings(
        database_url=None, pg_host="db.internal", pg_user="app", pg_database="inpaint", db_secret_arn=arn
    )
    url = database_url(settings)
    assert (url.host, url.username, url.password, url.database) == ("db.internal", "app", "s3cr3t", "inpaint")
    assert "s3cr3t" not in url.render_as_string(hide_password=True)
    aws.reset()
