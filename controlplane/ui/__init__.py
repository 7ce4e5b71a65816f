"""The web UI: server-rendered pages (Jinja2 templates, a little vanilla JS, no build step, no CDN) over the same
stores and API the CLI uses; every change a page makes goes through the API, which enforces the roles."""

from __future__ import annotations

from fastapi import APIRouter

from controlplane.ui import admin_pages, catalog_pages, rendering, run_pages, stream

router = APIRouter(include_in_schema=False)
for module in (rendering, stream, run_pages, catalog_pages, admin_pages):
    router.include_router(module.router)
