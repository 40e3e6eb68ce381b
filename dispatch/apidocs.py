"""The API's documentation pages, served from this server's own files: Swagger UI (`/docs`) and ReDoc
(`/redoc`) from the npm packages swagger-ui-dist and redoc that `npm ci` puts in web/node_modules.
Government intranets have no internet, so nothing on these pages may come from a CDN: no script, no
style sheet, no font, no favicon."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

SWAGGER_DIR = "/node_modules/swagger-ui-dist"
REDOC_JS = "/node_modules/redoc/bundles/redoc.standalone.js"
TITLE = "网格调度 Grid Dispatch API"
# Inline start-up scripts are FastAPI's; everything else from this server (ReDoc runs a blob: worker).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def _local(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _local(
        get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{TITLE} · Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_DIR}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_DIR}/favicon-32x32.png",
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _local(
        get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{TITLE} · ReDoc",
            redoc_js_url=f"{root}{REDOC_JS}",
            redoc_favicon_url=f"{root}{SWAGGER_DIR}/favicon-32x32.png",
            with_google_fonts=False,
        )
    )
