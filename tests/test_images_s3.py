"""Images in S3 (a moto server on 127.0.0.1): presigned GETs and direct presigned uploads."""

import io

import httpx
from PIL import Image

from app.core import aws
from tests.factories import png_bytes, upload_image


def keys(bucket):
    listing = aws.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def image_rows(db):
    from app.images.models import Image as ImageRow

    db.expire_all()
    return db.query(ImageRow).all()


def test_upload_through_api_is_stored_in_s3_with_presigned_url(client, user, user_headers, s3_bucket):
    data = png_bytes(30, 20)
    body = upload_image(client, user_headers, data)
    assert keys(s3_bucket) == [f"images/{user.id}/{body['id']}.png"]
    assert "X-Amz-Signature=" in body["url"] or "Signature=" in body["url"]
    fetched = httpx.get(body["url"])
    assert fetched.status_code == 200 and fetched.content == data


def test_direct_upload_with_presigned_post(client, user_headers, s3_bucket):
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), (90, 20, 160)).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    started = client.post(
        "/v1/images/uploads", json={"content_type": "image/jpeg", "bytes": len(data)}, headers=user_headers
    )
    assert started.status_code == 201
    target = started.json()["upload"]
    assert target["method"] == "POST" and target["url"].startswith("http://127.0.0.1")
    sent = httpx.post(target["url"], data=target["fields"], files={"file": ("big.jpg", data, "image/jpeg")})
    assert sent.status_code in (200, 201, 204), sent.text
    image_id = started.json()["image"]["id"]
    done = client.post(f"/v1/images/{image_id}/complete", headers=user_headers)
    assert done.status_code == 200
    assert (done.json()["width"], done.json()["height"], done.json()["format"]) == (1200, 900, "JPEG")
    assert all(key.startswith("images/") for key in keys(s3_bucket))  # the temporary upload is gone
    assert httpx.get(done.json()["url"]).content == data


def test_direct_upload_of_a_bomb_leaves_nothing(client, user_headers, s3_bucket, db):
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG", optimize=True)
    started = client.post(
        "/v1/images/uploads", json={"content_type": "image/png", "bytes": len(bomb.getvalue())}, headers=user_headers
    ).json()
    target = started["upload"]
    httpx.post(target["url"], data=target["fields"], files={"file": ("b.png", bomb.getvalue(), "image/png")})
    done = client.post(f"/v1/images/{started['image']['id']}/complete", headers=user_headers)
    assert done.status_code == 413
    assert keys(s3_bucket) == [] and image_rows(db) == []


def test_complete_before_upload_is_409(client, user_headers, s3_bucket):
    started = client.post(
        "/v1/images/uploads", json={"content_type": "image/png", "bytes": 100}, headers=user_headers
    ).json()
    assert client.post(f"/v1/images/{started['image']['id']}/complete", headers=user_headers).status_code == 409
