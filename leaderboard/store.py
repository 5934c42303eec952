"""The leaderboard store: one SQLite file in WAL mode, versioned schema, transactional writes.

Every write runs in one ``BEGIN IMMEDIATE`` transaction (concurrent writers queue on SQLite's
lock, with a busy timeout), and every check that can refuse a submission runs before the
transaction starts, so a refused submission leaves the file byte-for-byte as it was.
Connections are opened per operation and closed after it, which checkpoints the WAL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from flashbench.errors import InputError

from .archive import Limits
from .errors import SubmissionRejected
from .validate import Checked, check_submission

# Schema migrations: MIGRATIONS[i] takes the database from user_version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        submitted_at TEXT NOT NULL,
        submitter TEXT NOT NULL,
        archive_sha256 TEXT NOT NULL UNIQUE,
        identity_key TEXT NOT NULL,
        benchmark_name TEXT NOT NULL,
        manifest_hash TEXT NOT NULL,
        protocol_hash TEXT NOT NULL,
        board TEXT NOT NULL CHECK (board IN ('ranked', 'unofficial')),
        complete INTEGER NOT NULL,
        superseded_by INTEGER REFERENCES entries(id),
        metadata TEXT NOT NULL,
        results TEXT NOT NULL,
        rows_csv TEXT NOT NULL,
        notes TEXT NOT NULL
    );
    CREATE UNIQUE INDEX entries_current_identity ON entries(identity_key) WHERE superseded_by IS NULL;
    CREATE TABLE benchmarks (manifest_hash TEXT PRIMARY KEY, name TEXT NOT NULL, manifest TEXT NOT NULL);
    CREATE TABLE real_pins (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, entry_id INTEGER NOT NULL REFERENCES entries(id));
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_sha256 TEXT NOT NULL, created_at TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE paper_results (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, section TEXT NOT NULL, method TEXT NOT NULL,
        benchmark TEXT NOT NULL, grp TEXT NOT NULL, fid REAL, fvd REAL, mask_iou REAL, box_iou REAL,
        denoise_s REAL, params_b REAL, note TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    """A leaderboard in one SQLite file (created with its schema on first use)."""

    def __init__(self, path: str | Path, limits: Limits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or Limits()
        if self.path.is_dir():
            raise InputError(f"--leaderboard {self.path} is a directory; pass the path of the store file (for example {self.path / 'leaderboard.db'})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path} is not a leaderboard store ({exc}); pass another --leaderboard path") from None
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def _migrate(self) -> None:
        with self._read() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise InputError(f"{self.path} has schema version {version}, newer than this flashbench reads ({SCHEMA_VERSION}); upgrade flashbench")
        if version == SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
            for i in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {i + 1}")

    def schema_version(self) -> int:
        with self._read() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    # ------------------------------------------------------------------ submissions

    def _pinned(self, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute("SELECT fingerprint FROM real_pins WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def submit(self, data: bytes, submitter: str = "local") -> dict[str, Any]:
        """Check an archive and store it; returns ``{"id", "board", "complete", "notes"}``.

        Raises :class:`SubmissionRejected` (the store untouched) when any check fails.
        """
        checked = check_submission(data, self.limits, self._pinned)
        with self._read() as conn:  # read-only first, so that a refusal writes nothing; repeated inside the write
            self._duplicate_problem(conn, checked, submitter)
        with self._write() as conn:
            return self._insert(conn, checked, submitter)

    @staticmethod
    def _duplicate_problem(conn: sqlite3.Connection, c: Checked, submitter: str) -> None:
        row = conn.execute("SELECT id FROM entries WHERE archive_sha256 = ?", (c.archive_sha256,)).fetchone()
        if row:
            raise SubmissionRejected("duplicate", f"this archive was already submitted (entry {row[0]}); a replay is not a new result", 409)
        current = conn.execute("SELECT id FROM entries WHERE identity_key = ? AND superseded_by IS NULL", (c.identity_key,)).fetchone()
        target = c.metadata.new_version_of
        if target is not None:
            old = conn.execute("SELECT id, superseded_by, submitter FROM entries WHERE id = ?", (target,)).fetchone()
            if old is None:
                raise SubmissionRejected("duplicate", f"new_version_of names entry {target}, which does not exist", 409)
            if old["submitter"] != submitter:
                raise SubmissionRejected("permission", f"entry {target} was submitted by {old['submitter']!r}; only they can replace it", 403)
            if old["superseded_by"] is not None:
                raise SubmissionRejected("duplicate", f"entry {target} was already replaced by entry {old['superseded_by']}; "
                                         f"declare --new-version-of {old['superseded_by']}", 409)
            if current and current[0] != target:
                raise SubmissionRejected("duplicate", f"the same generator and checkpoint is entry {current[0]}, not entry {target}", 409)
        elif current:
            gen = c.results["generator"]
            raise SubmissionRejected("duplicate", f"generator {gen['name']!r} version {gen.get('version')!r} with checkpoint "
                                     f"{gen.get('checkpoint_sha256')} is already entry {current[0]} on this benchmark and protocol; "
                                     f"declare it a new version with --new-version-of {current[0]}", 409)

    def _insert(self, conn: sqlite3.Connection, c: Checked, submitter: str) -> dict[str, Any]:
        self._duplicate_problem(conn, c, submitter)  # again inside the lock: a concurrent writer may have won
        for key, fp in c.real_pins.items():
            row = conn.execute("SELECT fingerprint FROM real_pins WHERE key = ?", (key,)).fetchone()
            if row:
                from .validate import fingerprints_agree

                problem = fingerprints_agree(json.loads(row[0]), fp)
                if problem:
                    raise SubmissionRejected("real-statistics", f"real-side statistics {key} disagree with the pinned ones: {problem}")
        bench = c.results["benchmark"]
        notes = list(c.unofficial_reasons) + ([] if c.complete else ["partial: not every video of the benchmark was evaluated"])
        cur = conn.execute(
            "INSERT INTO entries (submitted_at, submitter, archive_sha256, identity_key, benchmark_name, manifest_hash, protocol_hash,"
            " board, complete, metadata, results, rows_csv, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), submitter, c.archive_sha256, "pending", bench["name"], bench["manifest_hash"], c.results["protocol_hash"],
             c.board, int(c.complete), c.metadata.model_dump_json(), json.dumps(c.results, sort_keys=True), c.rows_csv, json.dumps(notes)),
        )
        entry_id = cur.lastrowid
        if c.metadata.new_version_of is not None:
            conn.execute("UPDATE entries SET superseded_by = ? WHERE id = ?", (entry_id, c.metadata.new_version_of))
        conn.execute("UPDATE entries SET identity_key = ? WHERE id = ?", (c.identity_key, entry_id))
        conn.execute("INSERT OR IGNORE INTO benchmarks (manifest_hash, name, manifest) VALUES (?, ?, ?)",
                     (bench["manifest_hash"], bench["name"], json.dumps(c.manifest, sort_keys=True)))
        for key, fp in c.real_pins.items():
            conn.execute("INSERT OR IGNORE INTO real_pins (key, fingerprint, entry_id) VALUES (?, ?, ?)", (key, json.dumps(fp), entry_id))
        return {"id": entry_id, "board": c.board, "complete": c.complete, "notes": notes}

    def entries(self, include_superseded: bool = False) -> list[dict[str, Any]]:
        """Stored entries, oldest first, with metadata and results decoded."""
        sql = "SELECT * FROM entries" + ("" if include_superseded else " WHERE superseded_by IS NULL") + " ORDER BY id"
        with self._read() as conn:
            rows = conn.execute(sql).fetchall()
        return [{
            "id": r["id"], "submitted_at": r["submitted_at"], "submitter": r["submitter"], "archive_sha256": r["archive_sha256"],
            "benchmark_name": r["benchmark_name"], "manifest_hash": r["manifest_hash"], "protocol_hash": r["protocol_hash"],
            "board": r["board"], "complete": bool(r["complete"]), "superseded_by": r["superseded_by"],
            "metadata": json.loads(r["metadata"]), "results": json.loads(r["results"]), "notes": json.loads(r["notes"]),
        } for r in rows]

    # ------------------------------------------------------------------ tokens

    def add_token(self, name: str) -> str:
        """A new API token for ``name`` (printed once; only its SHA-256 is stored)."""
        if not name or len(name) > 100:
            raise InputError("token name must be 1..100 characters")
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)).fetchone():
                raise InputError(f"a token named {name!r} exists already; choose another name")
            conn.execute("INSERT INTO tokens (name, token_sha256, created_at) VALUES (?, ?, ?)", (name, token_digest(token), _now()))
        return token

    def token_owner(self, token: str) -> str | None:
        """The name a token belongs to, comparing digests in constant time; None for an unknown token."""
        digest = token_digest(token or "")
        with self._read() as conn:
            rows = conn.execute("SELECT name, token_sha256 FROM tokens").fetchall()
        owner = None
        for r in rows:  # every row compared: the time does not depend on which one matches
            if hmac.compare_digest(r["token_sha256"], digest):
                owner = r["name"]
        return owner

    # ------------------------------------------------------------------ paper

    def import_paper(self, rows: list[dict[str, Any]]) -> int:
        """Replace the paper's reported numbers with ``rows``; returns how many were stored."""
        with self._write() as conn:
            conn.execute("DELETE FROM paper_results")
            for r in rows:
                conn.execute(
                    "INSERT INTO paper_results (source, section, method, benchmark, grp, fid, fvd, mask_iou, box_iou, denoise_s, params_b, note)"
                    " VALUES (:source, :section, :method, :benchmark, :grp, :fid, :fvd, :mask_iou, :box_iou, :denoise_s, :params_b, :note)", r)
        return len(rows)

    def paper_results(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM paper_results ORDER BY id").fetchall()]
