"""The studio: a single page at ``/`` that drives the public API (sign in, upload, locate,
select, prompt, compare). Plain HTML, CSS and JS modules, no build step.

The files are read per request, never at import: the API handler imports this router at
start, and a page must not cost other routes' cold start anything.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).with_name("static")
# Served names and their types; nothing else under static/ can be asked for.
ASSETS = {"studio.js": "text/javascript; charset=utf-8", "studio.css": "text/css; charset=utf-8"}
# Revalidate each time: a deploy must never leave a page on an old script.
NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def studio_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=NO_CACHE)


@router.get("/studio/{name}")
def studio_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=NO_CACHE)
