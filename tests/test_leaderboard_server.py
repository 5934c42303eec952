"""The submission server on a real ASGI stack (uvicorn on a free loopback port)."""

from __future__ import annotations

import http.server
import json
import socket
import sqlite3
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from test_leaderboard import archive_of, snapshot
from test_leaderboard_support import make_bench, make_run

from leaderboard.archive import Limits
from leaderboard import client
from leaderboard.client import send
from leaderboard.errors import SubmissionRejected
from leaderboard.server import create_app
from leaderboard.store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(db, limits: Limits | None = None, rate_limit: int = 100):
    """uvicorn serving the store ``db`` on a free loopback port, in a thread; yields the base URL."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(db, limits, rate_limit=rate_limit), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def server(tmp_path):
    db = tmp_path / "lb" / "leaderboard.db"
    store = Store(db)
    token = store.add_token("tester")
    limits = Limits(max_archive_bytes=2 * 2**20)
    with running(db, limits) as url:
        yield {"url": url, "token": token, "store": store, "tmp": tmp_path, "limits": limits}


def post(url: str, body: bytes, token: str | None, headers: dict | None = None) -> tuple[int, dict]:
    h = {"Content-Type": "application/zip", **(headers or {})}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return client.post(url + "/api/submissions", body, h, timeout=60)


def test_twenty_concurrent_submissions_each_valid_one_stored_once(server):
    bench = make_bench(server["tmp"] / "bench")
    archives = [archive_of(make_run(server["tmp"] / f"run{i}", bench, name=f"model-{i}", seed=i), bench, f"model-{i}") for i in range(10)]
    bodies = archives + archives  # every valid archive sent twice at once: one copy is stored, the other is a replay
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda b: post(server["url"], b, server["token"]), bodies))
    stored = [a for s, a in answers if s == 200]
    refused = [a for s, a in answers if s != 200]
    assert len(stored) == 10 and len({a["id"] for a in stored}) == 10
    assert len(refused) == 10 and all(a["error"] == "duplicate" for a in refused), refused
    entries = server["store"].entries()
    assert sorted(e["metadata"]["model_name"] for e in entries) == sorted(f"model-{i}" for i in range(10))
    assert len({e["archive_sha256"] for e in entries}) == 10 and all(e["submitter"] == "tester" for e in entries)
    conn = sqlite3.connect(server["store"].path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with urllib.request.urlopen(server["url"] + "/api/leaderboard", timeout=30) as resp:
        assert len(json.loads(resp.read())["entries"]) == 10


def test_bad_token_oversize_body_and_rate_limit_are_refused_with_the_store_unchanged(server):
    bench = make_bench(server["tmp"] / "bench")
    body = archive_of(make_run(server["tmp"] / "run", bench, name="m", seed=1), bench, "m")
    store = server["store"]
    before = snapshot(store)
    status, answer = post(server["url"], body, "not-a-token")
    assert (status, answer["error"]) == (401, "token") and "unknown API token" in answer["detail"]
    status, answer = post(server["url"], body, None)
    assert (status, answer["error"]) == (401, "token")
    big = body + b"\0" * server["limits"].max_archive_bytes
    status, answer = post(server["url"], big, server["token"])
    assert (status, answer["error"]) == (413, "too-large") and "over the limit" in answer["detail"]
    status, answer = post(server["url"], b"{not json", server["token"])
    assert (status, answer["error"]) == (422, "not-an-archive")
    assert snapshot(store) == before
    # the client `flashbench submit --leaderboard URL --token T` uses
    with pytest.raises(SubmissionRejected, match=r"\(token\): missing or unknown API token"):
        send(body, server["url"], "wrong")
    assert snapshot(store) == before
    assert send(body, server["url"], server["token"])["id"] == 1


def test_rate_limit_per_token_openapi_and_site(tmp_path):
    db = tmp_path / "lb.db"
    token = Store(db).add_token("tester")
    with running(db, rate_limit=2) as url:
        codes = [post(url, b"x", token)[0] for _ in range(3)]
        assert codes == [422, 422, 429]
        with urllib.request.urlopen(url + "/openapi.json", timeout=30) as resp:
            schema = json.loads(resp.read())
        assert "/api/submissions" in schema["paths"] and "/api/leaderboard" in schema["paths"]
        with urllib.request.urlopen(url + "/", timeout=30) as resp:
            assert resp.status == 200 and "FlashBench leaderboard" in resp.read().decode()


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A server that never sends "100 Continue" (HTTP/1.0); on /refuse it answers from the headers alone."""

    protocol_version = "HTTP/1.0"
    received: list[int] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        if self.path == "/refuse":
            answer, code = {"error": "too-large", "detail": "refused from the headers"}, 413
        else:
            n = int(self.headers["Content-Length"])
            type(self).received.append(len(self.rfile.read(n)))
            answer, code = {"bytes": n}, 200
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_client_sends_after_the_wait_to_a_server_without_continue_and_not_at_all_when_refused(monkeypatch):
    monkeypatch.setattr(client, "CONTINUE_WAIT_S", 2.0)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        _Recorder.received = []
        assert client.post(url + "/store", b"z" * 300_000, {}) == (200, {"bytes": 300_000})
        assert _Recorder.received == [300_000]
        status, answer = client.post(url + "/refuse", b"z" * 50_000_000, {})  # far more than the socket buffers
        assert (status, answer["error"]) == (413, "too-large") and _Recorder.received == [300_000]
    finally:
        httpd.shutdown()
        httpd.server_close()
