"""The submission archive: one zip holding a run's results, rows and statistics.

Layout (every member listed with its SHA-256 in ``submission.json``)::

    submission.json        format, version, submitter metadata, member hashes
    results.json           the run's results file, as written by `flashbench eval`
    videos.csv             the per-video rows
    manifest.json          the benchmark manifest the run names (its hash is the benchmark identity)
    stats/<file>           generated-side feature statistics (the run directory's stats/)
    real/<path>            real-side feature statistics, at their path under the feature cache

Unpacking treats the archive as hostile: member names are checked before anything is read
(no absolute paths, no ``..``, no links, no duplicates), and sizes are bounded before and
while reading, so a zip bomb or a path-traversal name is refused without touching the disk.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from flashbench.utils.atomic import canonical_json, sha256_bytes

from .errors import SubmissionRejected
from .schema import (
    SUBMISSION_FORMAT,
    SUBMISSION_VERSION,
    SubmissionHeader,
    SubmitterMetadata,
)

HEADER = "submission.json"
FIXED_MEMBERS = ("results.json", "videos.csv", "manifest.json")
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same run packs to the same bytes


@dataclass(frozen=True)
class Limits:
    """Size bounds of one submission (bytes) and of its member count."""

    max_archive_bytes: int = 512 * 2**20
    max_unpacked_bytes: int = 2 * 2**30
    max_members: int = 400


def safe_member_name(name: str) -> bool:
    """A relative POSIX path of plain parts: no root, drive, backslash, ``.`` or ``..``."""
    if not name or len(name) > 512 or name.startswith("/") or "\\" in name:
        return False
    parts = name.split("/")
    return all(_SAFE_PART.match(p) and p not in (".", "..") for p in parts) and (
        name in (HEADER,) + FIXED_MEMBERS or parts[0] in ("stats", "real") and len(parts) >= 2
    )


def pack(members: Mapping[str, bytes], metadata: SubmitterMetadata) -> bytes:
    """The archive bytes for ``members`` (name -> content) and the submitter's metadata."""
    for name in members:
        if not safe_member_name(name):
            raise ValueError(f"archive member name {name!r} is not allowed")
    header = SubmissionHeader(
        format=SUBMISSION_FORMAT, format_version=SUBMISSION_VERSION, metadata=metadata,
        files={name: sha256_bytes(data) for name, data in sorted(members.items())},
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        entries = {HEADER: canonical_json(header.model_dump(mode="json")).encode("utf-8"), **dict(sorted(members.items()))}
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            # statistics are compressed .npz already: store them; deflate the text members
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".npz") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def unpack(data: bytes, limits: Limits) -> tuple[SubmissionHeader, dict[str, bytes]]:
    """The header and members of an archive, every name and size checked first."""
    if len(data) > limits.max_archive_bytes:
        raise SubmissionRejected("too-large", f"the archive is {len(data)} bytes, over the limit of {limits.max_archive_bytes}", 413)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise SubmissionRejected("not-an-archive", f"the body is not a zip archive ({exc}); send the file `flashbench submit --out` writes") from None
    if len(infos) > limits.max_members:
        raise SubmissionRejected("too-large", f"the archive has {len(infos)} members, over the limit of {limits.max_members}", 413)
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if not safe_member_name(name) or info.is_dir():
            raise SubmissionRejected("archive-path", f"member name {name!r} is not allowed (only submission.json, results.json, "
                                     "videos.csv, manifest.json, stats/... and real/... with plain relative names)")
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise SubmissionRejected("archive-path", f"member {name!r} is not a regular file (links are not allowed)")
        if name in seen:
            raise SubmissionRejected("archive-path", f"member {name!r} appears twice")
        seen.add(name)
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise SubmissionRejected("too-large", f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes", 413)
    members: dict[str, bytes] = {}
    for info in infos:
        try:
            with zf.open(info) as f:
                content = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise SubmissionRejected("not-an-archive", f"member {info.filename!r} cannot be read ({exc})") from None
        if len(content) != info.file_size:  # a header that lies about the size
            raise SubmissionRejected("too-large", f"member {info.filename!r} does not have its declared size")
        members[info.filename] = content
    if HEADER not in members:
        raise SubmissionRejected("schema", f"the archive has no {HEADER}; pack it with `flashbench submit`")
    header = parse_header(parse_json(members.pop(HEADER), HEADER))
    return header, members


def parse_header(obj: Any) -> SubmissionHeader:
    """``submission.json`` against the schema; the first problem names its field."""
    from pydantic import ValidationError

    if isinstance(obj, dict) and obj.get("format") == SUBMISSION_FORMAT and isinstance(obj.get("format_version"), int) \
            and obj["format_version"] > SUBMISSION_VERSION:
        raise SubmissionRejected("schema", f"{HEADER}: format_version {obj['format_version']} is newer than this leaderboard "
                                 f"reads ({SUBMISSION_VERSION}); upgrade the leaderboard's flashbench")
    try:
        return SubmissionHeader.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise SubmissionRejected("schema", f"{HEADER}: {where}: {err['msg']}") from None


def parse_json(data: bytes, name: str) -> Any:
    """JSON of an archive member, or a rejection naming the member, line and column."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SubmissionRejected("malformed-json", f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise SubmissionRejected("malformed-json", f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def members_from_run(run_dir: str | Path, manifest: Mapping[str, Any], features_root: str | Path) -> dict[str, bytes]:
    """The archive members of a finished run directory.

    Every file in the run's ``stats/`` is packed as it is; the real-side statistics listed in
    ``results.json`` are read from the feature cache (``features_root``) and packed under
    ``real/`` so that the leaderboard can recompute FID and FVD without the benchmark.
    """
    from flashbench.errors import InputError
    from flashbench.results import load_results

    run = Path(run_dir)
    results = load_results(run)
    members = {"results.json": (run / "results.json").read_bytes(), "manifest.json": canonical_json(dict(manifest)).encode("utf-8")}
    rows = run / results["rows"]
    if not rows.is_file():
        raise InputError(f"{run}: the per-video rows {rows.name} are missing; rerun `flashbench eval` with the same arguments")
    members["videos.csv"] = rows.read_bytes()
    stats_dir = run / "stats"
    for f in sorted(stats_dir.rglob("*")) if stats_dir.is_dir() else []:
        if f.is_file() and not f.name.startswith("."):
            members[f.relative_to(run).as_posix()] = f.read_bytes()
    listing = results.get("statistics")
    if not isinstance(listing, dict):
        raise InputError(f"{run}: results.json lists no feature statistics (written by an older flashbench); rerun `flashbench eval`")
    for files in listing.get("groups", {}).values():
        for name, rel in files.items():
            if rel is None or not name.endswith("_real"):
                continue
            src = Path(features_root) / rel
            if not src.is_file():
                raise InputError(f"real-side statistics {src} are missing from the feature cache; rerun `flashbench eval` with the "
                                 "same arguments on this machine to rebuild them, then submit again")
            members[f"real/{rel}"] = src.read_bytes()
    return members
