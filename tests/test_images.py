import hashlib
import io
import os

import pytest
from PIL import Image

from tests.conftest import reset_app_state
from tests.factories import auth_headers, create_user, png_bytes, upload_image


def stored_files(images_dir):
    return sorted(p for p in images_dir.rglob("*") if p.is_file())


def image_rows(db):
    from app.images.models import Image as ImageRow

    db.expire_all()
    return db.query(ImageRow).all()


@pytest.mark.parametrize("fmt,content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_upload_each_format(client, user_headers, fmt, content_type, images_dir):
    data = png_bytes(40, 30, fmt=fmt)
    body = upload_image(client, user_headers, data, filename=f"x.{fmt.lower()}", content_type=content_type)
    assert (body["width"], body["height"], body["format"]) == (40, 30, fmt)
    assert body["bytes"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    fetched = client.get(body["url"].removeprefix("http://testserver"))
    assert fetched.status_code == 200
    assert fetched.content == data


def test_exif_orientation_is_applied(client, user_headers):
    image = Image.new("RGB", (60, 20), (10, 200, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    body = upload_image(client, user_headers, buffer.getvalue(), "r.jpg", "image/jpeg")
    assert (body["width"], body["height"]) == (20, 60)


def test_not_an_image_is_415_and_nothing_stored(client, user_headers, db, images_dir):
    response = client.post(
        "/v1/images", headers=user_headers, files={"file": ("a.png", b"hello, not a png", "image/png")}
    )
    assert response.status_code == 415
    assert "not an image" in response.json()["detail"]
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    response = client.post("/v1/images", headers=user_headers, files={"file": ("a.gif", gif.getvalue(), "image/gif")})
    assert response.status_code == 415
    assert image_rows(db) == [] and stored_files(images_dir) == []


def test_too_large_is_413_and_nothing_stored(client, user_headers, db, images_dir, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "2000")
    reset_app_state()
    noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 2000
    response = client.post(
        "/v1/images", headers=user_headers, files={"file": ("n.png", buffer.getvalue(), "image/png")}
    )
    assert response.status_code == 413
    assert image_rows(db) == [] and stored_files(images_dir) == []


def test_decompression_bomb_is_refused_without_decoding(client, user_headers, db, images_dir, monkeypatch):
    # 12000 x 12000 = 144 Mpx of one colour compresses to a few hundred KB of PNG.
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 2_000_000

    import PIL.ImageFile

    def no_decoding(*args, **kwargs):
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", no_decoding)
    response = client.post("/v1/images", headers=user_headers, files={"file": ("b.png", bomb.getvalue(), "image/png")})
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]
    assert image_rows(db) == [] and stored_files(images_dir) == []


def test_truncated_image_is_422(client, user_headers, db):
    data = png_bytes(200, 200, color=(1, 2, 3), fmt="JPEG")
    response = client.post(
        "/v1/images", headers=user_headers, files={"file": ("t.jpg", data[: len(data) // 2], "image/jpeg")}
    )
    assert response.status_code in (415, 422)
    assert image_rows(db) == []


def test_another_users_image_is_404(client, user, user_headers, db):
    image = upload_image(client, user_headers)
    other_headers = auth_headers(client, create_user(db))
    assert client.get(f"/v1/images/{image['id']}", headers=other_headers).status_code == 404
    assert client.delete(f"/v1/images/{image['id']}", headers=other_headers).status_code == 404
    assert client.get("/v1/images", headers=other_headers).json()["items"] == []
    assert client.get(f"/v1/images/{image['id']}", headers=user_headers).status_code == 200


def test_list_paginates_newest_first(client, user_headers):
    ids = [upload_image(client, user_headers, png_bytes(8 + i, 8))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        url = "/v1/images?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=user_headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert client.get("/v1/images?cursor=garbage", headers=user_headers).status_code == 422


def test_delete_removes_row_and_file(client, user_headers, db, images_dir):
    image = upload_image(client, user_headers)
    assert len(stored_files(images_dir)) == 1
    assert client.delete(f"/v1/images/{image['id']}", headers=user_headers).status_code == 204
    assert client.get(f"/v1/images/{image['id']}", headers=user_headers).status_code == 404
    assert stored_files(images_dir) == [] and image_rows(db) == []


def test_file_links_need_a_valid_signature(client, user_headers):
    image = upload_image(client, user_headers)
    path = image["url"].removeprefix("http://testserver")
    assert client.get(path).status_code == 200
    tampered = path.replace("signature=", "signature=0")
    assert client.get(tampered).status_code == 403
    assert client.get(path.replace("expires=", "expires=1")).status_code == 403


def test_local_direct_upload_flow(client, user_headers, db, images_dir):
    data = png_bytes(50, 40, fmt="PNG")
    started = client.post(
        "/v1/images/uploads", json={"content_type": "image/png", "bytes": len(data)}, headers=user_headers
    )
    assert started.status_code == 201
    body = started.json()
    assert body["image"]["status"] == "pending_upload" and body["upload"]["method"] == "PUT"
    put = client.put(
        body["upload"]["url"].removeprefix("http://testserver"), content=data, headers=body["upload"]["headers"]
    )
    assert put.status_code == 204
    done = client.post(f"/v1/images/{body['image']['id']}/complete", headers=user_headers)
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["width"], done.json()["height"]) == ("ready", 50, 40)
    # the temporary upload object is gone; only the image remains
    assert [p.parent.name for p in stored_files(images_dir)] == [
        done.json()["id"][:0] or p.parent.name for p in stored_files(images_dir)
    ]
    assert not any("uploads" in p.parts for p in stored_files(images_dir))


def test_direct_upload_of_a_non_image_leaves_nothing(client, user_headers, db, images_dir):
    started = client.post(
        "/v1/images/uploads", json={"content_type": "image/png", "bytes": 10}, headers=user_headers
    ).json()
    client.put(started["upload"]["url"].removeprefix("http://testserver"), content=b"0123456789")
    done = client.post(f"/v1/images/{started['image']['id']}/complete", headers=user_headers)
    assert done.status_code == 415
    assert image_rows(db) == [] and stored_files(images_dir) == []


def test_direct_upload_refuses_declared_oversize(client, user_headers):
    response = client.post(
        "/v1/images/uploads", json={"content_type": "image/png", "bytes": 10**10}, headers=user_headers
    )
    assert response.status_code == 413
