"""Which module serves which paths; each domain's routes are imported on first use.

A Lambda container answers the requests of one API at a time, often only a few kinds: the API
handler starts with no domain's routes and includes a domain's router the first time a request
needs it, so a cold start pays for SQLAlchemy, the models and the schemas of that domain only
when it must, never at import. A path no prefix claims (a 404, ``/docs``, ``/openapi.json``)
loads every domain, so 404/405 answers and the schema are always those of the whole API; the
local server loads them all at start-up.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Domain:
    module: str  # holds ``router``
    prefix: str  # prepended to the router's own prefix
    paths: tuple[str, ...]  # request paths (as the client sends them) this domain may serve


# In matching order (the order the routes were declared in when they were all eager).
DOMAINS: tuple[Domain, ...] = (
    Domain("app.health.router", "", ("/health",)),
    Domain("app.auth.router", "/v1", ("/v1/auth",)),
    Domain("app.users.router", "/v1", ("/v1/users",)),
    Domain("app.images.router", "/v1", ("/v1/images",)),
    Domain("app.inpainting.router", "/v1", ("/v1/inpaintings",)),
    Domain("app.jobs.router", "/v1", ("/v1/jobs",)),
    Domain("app.catalog.router", "/v1", ("/v1/models",)),
    Domain("app.locator.router", "/v1", ("/v1/detections", "/v1/images")),
    Domain("app.selection.router", "/v1", ("/v1/selections",)),
    Domain("app.images.files", "", ("/files",)),
    Domain("app.web.router", "", ("/studio",)),
)


def _serves(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class LazyRoutes:
    """Includes domains' routers into ``app`` on demand, keeping the declared matching order."""

    def __init__(self, app: FastAPI, domains: Sequence[Domain] = DOMAINS) -> None:
        self.app = app
        self.domains = tuple(domains)
        self._always = list(app.router.routes)  # /docs, /openapi.json and the like
        self._included: dict[str, list[BaseRoute]] = {}
        self._lock = threading.Lock()
        self.complete = False  # every domain included: nothing left to look up per request

    def domains_for(self, path: str) -> list[Domain]:
        if path == "/":
            return [d for d in self.domains if d.module == "app.web.router"]
        claimed = [d for d in self.domains if any(_serves(path, p) for p in d.paths)]
        return claimed or list(self.domains)

    def load_for(self, path: str) -> None:
        if self.complete:
            return
        missing = [d for d in self.domains_for(path) if d.module not in self._included]
        if missing:
            self._include(missing)

    def load_all(self) -> None:
        missing = [d for d in self.domains if d.module not in self._included]
        if missing:
            self._include(missing)

    def _include(self, domains: list[Domain]) -> None:
        with self._lock:
            routes = self.app.router.routes
            for domain in domains:
                if domain.module in self._included:
                    continue
                router = importlib.import_module(domain.module).router
                before = len(routes)
                self.app.include_router(router, prefix=domain.prefix)
                self._included[domain.module] = routes[before:]
                del routes[before:]
            # Domains' routes right after FastAPI's own, in declared order; a route added to the
            # app in any other way stays, after them. One assignment: a request being matched on
            # another thread sees the old list or the new one, never a half-built one.
            ordered = [route for d in self.domains for route in self._included.get(d.module, ())]
            placed = {id(route) for route in [*self._always, *ordered]}
            added = [route for route in routes if id(route) not in placed]
            self.app.router.routes = [*self._always, *ordered, *added]
            self.app.openapi_schema = None
            self.complete = len(self._included) == len(self.domains)


class LoadRoutesMiddleware:
    """Pure ASGI: make sure the routes a request may match are included before routing."""

    def __init__(self, app: ASGIApp, routes: LazyRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            root_path: str = scope.get("root_path", "")
            if root_path and _serves(path, root_path):
                path = path[len(root_path) :] or "/"
            self.routes.load_for(path)
        await self.app(scope, receive, send)
