"""The studio page end to end in headless Chromium, against the local server: sign in, upload
a photo, find its objects, click one, prompt, generate, compare; smart select from a box; an
API error shown plainly. Screenshots of each state go to artifacts/browser/."""

from __future__ import annotations

import io

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from app.locator.rle import decode
from tests.factories import DEFAULT_PASSWORD
from tests.photo import jpeg_bytes, render_photo

# The page does not depend on the database kind; one is enough for a browser run.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BALL_BOX = (175, 295, 425, 545)  # around the ball, with a margin, as a person would drag it


def _screen_point(page, x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:
    """Where pixel (x, y) of the image is on the screen."""
    rect = page.locator("#overlay").bounding_box()
    return rect["x"] + (x + 0.5) * rect["width"] / size[0], rect["y"] + (y + 0.5) * rect["height"] / size[1]


def _pixels(url: str) -> np.ndarray:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def test_studio_click_an_object_prompt_and_compare(browser, studio_server, user, db, artifacts, tmp_path):
    photo, truth = render_photo(960, 640, horizon=0.0)  # a ball and a mug on a wooden table
    photo_path = tmp_path / "table.jpg"
    photo_path.write_bytes(jpeg_bytes(photo))
    size = (photo.shape[1], photo.shape[0])

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.set_default_timeout(30_000)

    # Sign in.
    page.goto(studio_server + "/")
    page.fill("#email", user.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#studio:not([hidden])")
    assert page.inner_text("#whoami") == user.email
    token = page.evaluate("sessionStorage.getItem('studio.token')")
    api = httpx.Client(base_url=studio_server, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    # Upload through the picker and see the photo.
    page.set_input_files("#file", str(photo_path))
    page.wait_for_function(
        "document.getElementById('photo').naturalWidth > 0 && !document.getElementById('stage').hidden"
    )

    # Find the objects: they are drawn and listed with label and score.
    page.click("#locate")
    page.wait_for_selector("#detections li")
    page.wait_for_function("document.getElementById('notice').textContent.startsWith('Found')")
    assert "object" in page.inner_text("#detections")
    page.screenshot(path=str(artifacts / "01-detections.png"), full_page=True)
    images = api.get("/v1/images").json()["items"]
    assert len(images) == 1
    image = images[0]
    detections = api.get(f"/v1/images/{image['id']}/detections").json()["detections"]
    assert len(detections) >= 2

    # The detection that matches a real object best; click inside it (its most interior pixel,
    # where no smaller detection lies), and that detection is the one selected.
    def match(detection: dict) -> float:
        mask = decode(detection["mask"])
        return max((mask & t).sum() / (mask | t).sum() for t in truth.values())

    target = max(detections, key=match)
    assert match(target) > 0.5, "the locator found none of the objects"
    target_mask = decode(target["mask"])
    others = [
        decode(d["mask"]) for d in detections if d["id"] != target["id"] and decode(d["mask"]).sum() < target_mask.sum()
    ]
    clickable = target_mask & ~np.logical_or.reduce(others) if others else target_mask
    inside = cv2.distanceTransform(clickable.astype(np.uint8), cv2.DIST_L2, 5)
    click_y, click_x = np.unravel_index(int(inside.argmax()), inside.shape)
    page.mouse.click(*_screen_point(page, click_x, click_y, size))
    checked = page.locator("#detections input:checked")
    checked.wait_for()
    assert checked.count() == 1
    assert checked.get_attribute("data-detection-id") == target["id"]
    selected_mask = target_mask
    page.screenshot(path=str(artifacts / "02-selected-object.png"), full_page=True)

    # Prompt, generate, watch the job finish, and compare.
    page.fill("#prompt", "a green tennis ball")
    page.click("#submit")
    page.wait_for_function("document.getElementById('job-status').dataset.status === 'succeeded'", timeout=60_000)
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_function(
        "document.getElementById('after').complete && document.getElementById('after').naturalWidth > 0"
    )
    page.fill("#slider", "50")
    page.dispatch_event("#slider", "input")
    page.screenshot(path=str(artifacts / "04-before-after.png"), full_page=True)

    after_url = page.get_attribute("#after", "src")
    assert page.get_attribute("#download", "href") == after_url
    original = _pixels(api.get(f"/v1/images/{image['id']}").json()["url"])
    result = _pixels(after_url)
    assert result.shape == original.shape
    changed = (result != original).any(axis=-1)
    assert changed[selected_mask].mean() > 0.5, "the selected object did not change"
    # The server grows detection masks by 3 px for anti-aliased edges; nothing beyond that.
    assert not (changed & ~_grow(selected_mask, 4)).any(), "pixels outside the selection changed"

    # The gallery lists the job; it reopens.
    page.click("#refresh-gallery")
    page.wait_for_selector("#gallery li button")
    assert "succeeded" in page.inner_text("#gallery")

    # Smart select: a box dragged around the ball becomes the ball's outline, not the box.
    page.click("#clear")
    x1, y1, x2, y2 = BALL_BOX
    with page.expect_response(lambda r: r.url.endswith("/v1/selections")) as answer:
        page.mouse.move(*_screen_point(page, x1, y1, size))
        page.mouse.down()
        page.mouse.move(*_screen_point(page, (x1 + x2) / 2, (y1 + y2) / 2, size), steps=4)
        page.mouse.move(*_screen_point(page, x2, y2, size), steps=4)
        page.mouse.up()
    selection = answer.value.json()
    assert answer.value.status == 200, selection
    page.wait_for_function("document.getElementById('notice').textContent.startsWith('Smart select:')")
    smart = decode(selection["mask"])
    sent_box = selection["box"]
    box_area = (x2 - x1) * (y2 - y1)
    ball = truth["ball"]
    assert smart.sum() < 0.8 * box_area, "smart select returned (nearly) the box itself"
    assert (smart & ball).sum() / (smart | ball).sum() > 0.85, "smart select missed the ball"
    assert sent_box[0] >= x1 - 2 and sent_box[2] <= x2 + 2
    page.screenshot(path=str(artifacts / "03-smart-select-box.png"), full_page=True)

    # An error from the API is shown as it is: this user's quota for the model is used up.
    from app.catalog.models import AccessPolicy

    model = page.input_value("#inpaint-model")
    db.add(AccessPolicy(principal=user.email, model_name=model, daily_quota=0, monthly_quota=None))
    db.commit()
    page.fill("#prompt", "a stack of books")
    page.click("#submit")
    error = page.locator("#error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "Quota exceeded" in text and "daily quota of 0" in text and "resets in" in text, text
    page.screenshot(path=str(artifacts / "05-error-quota.png"), full_page=True)

    # A session that expires sends the person back to sign in, saying why.
    page.evaluate("sessionStorage.setItem('studio.token', 'expired'); location.reload()")
    page.wait_for_selector("#signin:not([hidden])")
    assert "sign in again" in page.inner_text("#error")

    assert page_errors == []
    context.close()


def test_studio_narrow_screen_and_keyboard(browser, studio_server, user, artifacts):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(studio_server + "/")
    page.keyboard.press("Tab")  # the e-mail field has focus already; type through the form
    page.focus("#email")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#studio:not([hidden])")
    # One column: nothing overflows the screen sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "06-narrow.png"), full_page=True)
    context.close()
