"""Secret values: from the environment / ``dev.env`` locally, from Secrets Manager in AWS."""

from __future__ import annotations

from pydantic import SecretStr

from app.core import aws
from app.core.config import PUBLISHED_JWT_SECRETS, Settings


def _plain_or_secret(plain: SecretStr | None, secret_arn: str | None, key: str | None = None) -> str | None:
    if secret_arn:
        return aws.secret_value(secret_arn, key)
    return plain.get_secret_value() if plain is not None else None


class InsecureJwtSecret(RuntimeError):
    """APP_MODE=aws with neither JWT_SECRET_ARN nor a strong JWT_SECRET of its own."""


def jwt_secret(settings: Settings) -> str:
    """The key that signs and checks tokens. Checked here, where it is used, not in Settings:
    only the API signs tokens, and the other functions start without any JWT configuration."""
    if settings.is_aws and not settings.jwt_secret_arn:
        plain = settings.jwt_secret.get_secret_value()
        if plain in PUBLISHED_JWT_SECRETS:
            raise InsecureJwtSecret(
                "APP_MODE=aws refuses the default JWT secret and dev.env's (both are published): "
                "set JWT_SECRET_ARN or JWT_SECRET"
            )
        if len(plain) < 32:
            raise InsecureJwtSecret("APP_MODE=aws needs a JWT secret of at least 32 characters")
    value = _plain_or_secret(settings.jwt_secret, settings.jwt_secret_arn)
    assert value is not None  # jwt_secret has a default, refused above in aws mode
    return value


def hf_token(settings: Settings) -> str | None:
    return _plain_or_secret(settings.hf_token, settings.hf_token_secret_arn)


def admin_password(settings: Settings) -> str | None:
    return _plain_or_secret(settings.admin_password, settings.admin_password_secret_arn)


def database_password(settings: Settings) -> str | None:
    """PG_PASSWORD, or the ``password`` key of an RDS-managed secret (``DB_SECRET_ARN``)."""
    return _plain_or_secret(settings.pg_password, settings.db_secret_arn, "password")
