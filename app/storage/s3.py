"""Images in S3; URLs are presigned. boto3 loads on first use, not at import."""

from __future__ import annotations

from typing import Any

from app.core import aws
from app.core.config import Settings
from app.storage import UploadTarget


class S3Storage:
    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket
        self.bucket = settings.s3_bucket
        self.expires = settings.url_expiry_seconds

    @property
    def s3(self) -> Any:
        return aws.client("s3")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def url(self, key: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires
        )

    def upload_target(self, key: str, *, content_type: str, max_bytes: int) -> UploadTarget:
        # A presigned POST policy can cap the size, which a presigned PUT cannot.
        post = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=self.expires,
        )
        return UploadTarget(method="POST", url=post["url"], fields=post["fields"])
