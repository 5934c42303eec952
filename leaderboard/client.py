"""Sending an archive to a leaderboard: a local store file or a server URL.

Archives go to a server with ``Expect: 100-continue``: the server checks the token, the rate
limit and the declared size from the headers alone, and a refusal comes back before any of the
body is sent. Without it, a server refusing an oversized body closes the connection while the
client is still writing, and the client sees a broken pipe instead of the server's reason.
"""

from __future__ import annotations

import http.client
import io
import json
import select
import urllib.parse
from typing import Any

from flashbench.errors import InputError

from .errors import SubmissionRejected

CONTINUE_WAIT_S = 5.0  # how long to wait for "100 Continue" before sending the body anyway (RFC 9110)


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


class _Reader:
    """Hands ``http.client.HTTPResponse`` a reader of the socket that starts with ``prefix``
    (the status line already read)."""

    class _Replay(io.RawIOBase):
        def __init__(self, prefix: bytes, fp: Any):
            self.prefix, self.fp = prefix, fp

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            data = self.prefix[:len(buffer)] if self.prefix else self.fp.read1(len(buffer))
            self.prefix = self.prefix[len(data):]
            buffer[:len(data)] = data
            return len(data)

    def __init__(self, prefix: bytes, fp: Any):
        self.fp = io.BufferedReader(self._Replay(prefix, fp))

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return self.fp


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 600.0) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``url`` waiting for the server's go-ahead; (status, JSON answer)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = connection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body)), "Expect": "100-continue", "Connection": "close"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        fp = conn.sock.makefile("rb")
        status_line = b""
        if select.select([conn.sock], [], [], CONTINUE_WAIT_S)[0]:
            status_line = fp.readline(65537)
            if status_line.split(b" ", 2)[1:2] == [b"100"]:  # interim answer: consume it, then send the body
                status_line = b""
                while fp.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
        if not status_line:  # no final answer yet; one that came before the body is a refusal, and the body stays unsent
            conn.sock.sendall(body)
        response = http.client.HTTPResponse(_Reader(status_line, fp), method="POST")  # type: ignore[arg-type]
        response.begin()
        raw = response.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw.decode("utf-8"))
    except ValueError:
        answer = {"error": "http", "detail": f"HTTP {response.status} {response.reason}"}
    return response.status, answer


def send(archive: bytes, target: str, token: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Submit ``archive`` to ``target``; the server's refusal comes back as :class:`SubmissionRejected`."""
    if not is_url(target):
        from pathlib import Path

        from .store import Store

        return Store(Path(target)).submit(archive)
    if not token:
        raise InputError(f"--leaderboard {target} is a server: pass --token T (ask its host for one)")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
    try:
        status, answer = post(target.rstrip("/") + "/api/submissions", archive, headers, timeout)
    except (http.client.HTTPException, OSError) as exc:
        raise InputError(f"cannot reach the leaderboard at {target} ({exc}); check the URL and that the server runs") from None
    if not 200 <= status < 300:
        raise SubmissionRejected(str(answer.get("error", "http")), str(answer.get("detail", "")), status)
    return answer
