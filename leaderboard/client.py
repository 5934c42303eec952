"""Sending an archive to a leaderboard: a local store file or a server URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from flashbench.errors import InputError

from .errors import SubmissionRejected


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def send(archive: bytes, target: str, token: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Submit ``archive`` to ``target``; the server's refusal comes back as :class:`SubmissionRejected`."""
    if not is_url(target):
        from pathlib import Path

        from .store import Store

        return Store(Path(target)).submit(archive)
    if not token:
        raise InputError(f"--leaderboard {target} is a server: pass --token T (ask its host for one)")
    req = urllib.request.Request(target.rstrip("/") + "/api/submissions", data=archive, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
        except ValueError:
            body = {"error": "http", "detail": f"HTTP {exc.code} {exc.reason}"}
        raise SubmissionRejected(str(body.get("error", "http")), str(body.get("detail", "")), exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot reach the leaderboard at {target} ({exc}); check the URL and that the server runs") from None
