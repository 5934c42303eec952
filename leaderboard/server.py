"""The submission server: FastAPI on uvicorn.

``POST /api/submissions`` takes an archive (``Authorization: Bearer TOKEN``), ``GET
/api/leaderboard`` returns the entries as JSON, ``GET /`` the HTML site, ``/openapi.json`` the
schema. Checks run in order token, rate, size, then the submission's own checks; every
refusal is an error response with the check's code and leaves the store untouched.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from .archive import Limits
from .errors import SubmissionRejected
from .store import Store


class RateLimiter:
    """At most ``limit`` submissions per token in any ``window_s`` seconds (in memory)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] > self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


def create_app(store_path: str | Path, limits: Limits | None = None, rate_limit: int = 30, rate_window_s: float = 60.0) -> FastAPI:
    from .render import render_html

    store = Store(store_path, limits)
    limiter = RateLimiter(rate_limit, rate_window_s)
    app = FastAPI(title="FlashBench leaderboard", version="1",
                  description="Submit `flashbench submit` archives; read the ranked boards.")

    def refuse(code: str, detail: str, status: int) -> JSONResponse:
        return JSONResponse({"error": code, "detail": detail}, status_code=status)

    @app.post("/api/submissions", summary="Submit an archive written by `flashbench submit`",
              responses={200: {"description": "stored"}, 401: {"description": "bad token"}, 403: {"description": "not the entry's submitter"}, 409: {"description": "duplicate"},
                         413: {"description": "too large"}, 422: {"description": "a check failed"}, 429: {"description": "rate limited"}})
    async def submit(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        owner = await run_in_threadpool(store.token_owner, token) if token else None
        if owner is None:
            return refuse("token", "missing or unknown API token; ask the leaderboard host for one (`flashbench leaderboard add-token`)", 401)
        if not limiter.allow(owner):
            return refuse("rate-limit", f"more than {limiter.limit} submissions in {limiter.window_s:g} s for this token; try later", 429)
        limit = store.limits.max_archive_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return refuse("too-large", f"the body is {declared} bytes, over the limit of {limit}", 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return refuse("too-large", f"the body exceeds the limit of {limit} bytes", 413)
        try:
            stored = await run_in_threadpool(store.submit, bytes(body), owner)
        except SubmissionRejected as exc:
            return refuse(exc.code, exc.detail, exc.status)
        return JSONResponse(stored)

    @app.get("/api/leaderboard", summary="Every current entry with metadata, results and board")
    def leaderboard() -> Any:
        return {"entries": store.entries(), "paper": store.paper_results()}

    @app.get("/", response_class=HTMLResponse, summary="The leaderboard site")
    def site() -> HTMLResponse:
        return HTMLResponse(render_html(store.entries(), store.paper_results()))

    return app


def serve(store_path: str | Path, host: str, port: int, limits: Limits | None = None, rate_limit: int = 30) -> None:
    import uvicorn

    uvicorn.run(create_app(store_path, limits, rate_limit), host=host, port=port, log_level="info")
