"""The studio page is served at / with its assets, and costs the API handler nothing at import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="studio/studio.js"' in page.text  # relative: works behind a stage prefix too
    script = client.get("/studio/studio.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "v1/selections" in script.text
    assert client.get("/studio/studio.css").headers["content-type"].startswith("text/css")


def test_only_the_named_assets_are_served(client):
    for path in ("/studio/index.html", "/studio/../router.py", "/studio/%2e%2e%2frouter.py", "/studio/nope.js"):
        assert client.get(path).status_code == 404, path


def test_importing_the_page_and_smart_select_reads_no_file_and_loads_no_heavy_module():
    code = (
        "import builtins, json, sys\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1]\n"
        "import app.web.router, app.selection.router\n"
        "heavy = [m for m in ('cv2', 'numpy', 'PIL') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'opened': [f for f in opened if 'static' in f]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"heavy": [], "opened": []}


def test_the_lambda_handler_serves_the_page_and_its_script(db):
    """Through Mangum, as API Gateway delivers it: the same page in aws mode's image."""
    from functions.api import handler
    from tests.test_lambda_events import lambda_context

    template = json.loads((ROOT / "events" / "apigw_v2_health.json").read_text())
    for path, media_type, words in (
        ("/", "text/html", "Inpainting studio"),
        ("/studio/studio.js", "text/javascript", "v1/inpaintings"),
    ):
        event = json.loads(json.dumps(template))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        response = handler(event, lambda_context())
        assert response["statusCode"] == 200, response
        headers = {key.lower(): value for key, value in response["headers"].items()}
        assert headers["content-type"].startswith(media_type)
        body = response["body"]
        if response.get("isBase64Encoded"):
            import base64

            body = base64.b64decode(body).decode()
        assert words in body
