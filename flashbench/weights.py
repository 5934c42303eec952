"""The weights cache: a registry of named weight files, verified by SHA-256.

Nothing here downloads implicitly. A file enters the cache only through
``flashbench weights download NAME`` or ``flashbench weights import NAME PATH``. Files whose
publisher recorded no hash are *pinned*: the SHA-256 seen at the first import or download is
stored in ``pins.json`` in the cache and every later use is checked against it.

Entries are generic (``kind="file"`` or ``kind="dir"`` for folders of files such as a
diffusers model), so other packages register their own weights with :func:`register`.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from . import paths
from .errors import FlashBenchError, InputError, MissingWeightsError
from .utils.atomic import atomic_path, atomic_write_json, sha256_file, sha256_json

PINS_FILE = "pins.json"
_CHUNK = 1 << 20
_LOCK = threading.Lock()


class WeightsIntegrityError(FlashBenchError):
    """A weight file does not match its recorded SHA-256."""


@dataclass(frozen=True)
class WeightSpec:
    name: str
    filename: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None  # published hash; None: pinned at first import/download
    description: str
    kind: Literal["file", "dir"] = "file"
    # "torch": a torch.save / TorchScript file, i.e. a zip archive; checked before it is pinned,
    # so a truncated or wrong file never enters the cache as "verified"
    file_format: Literal["torch"] | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["urls"] = list(self.urls)
        return d


_REGISTRY: dict[str, WeightSpec] = {}

# Packages that own weight entries register them through a callable: the project's model
# package here, third-party packages through the `flashbench.weights` entry-point group.
PROVIDER_ENTRY_POINT_GROUP = "flashbench.weights"
_BUILTIN_PROVIDERS = ("flashmotion.weights:register_all",)
_providers_loaded = False


def _load_providers() -> None:
    global _providers_loaded
    if _providers_loaded:
        return
    _providers_loaded = True
    import importlib
    from importlib import metadata

    targets = list(_BUILTIN_PROVIDERS) + [ep.value for ep in metadata.entry_points(group=PROVIDER_ENTRY_POINT_GROUP)]
    for target in targets:
        module, _, attr = target.partition(":")
        getattr(importlib.import_module(module), attr)()


def register(spec: WeightSpec, *, replace: bool = False) -> WeightSpec:
    """Add ``spec`` to the registry. Re-registering an identical spec is a no-op."""
    if spec.kind not in ("file", "dir"):
        raise ValueError(f"weight {spec.name!r}: kind must be 'file' or 'dir', got {spec.kind!r}")
    if spec.sha256 is not None and (len(spec.sha256) != 64 or any(c not in "0123456789abcdef" for c in spec.sha256)):
        raise ValueError(f"weight {spec.name!r}: sha256 must be 64 lowercase hex digits")
    old = _REGISTRY.get(spec.name)
    if old is not None and old != spec and not replace:
        raise ValueError(f"weight {spec.name!r} is already registered with a different spec (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_spec(name: str) -> WeightSpec:
    _load_providers()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError(f"unknown weight {name!r}; known weights: {known} (`flashbench weights ls`)") from None


def all_specs() -> list[WeightSpec]:
    _load_providers()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


# ----------------------------------------------------------------------------- cache layout


def cache_root() -> Path:
    return paths.weights_dir()


def cache_path(name: str) -> Path:
    return cache_root() / get_spec(name).filename


def _pins_path() -> Path:
    return cache_root() / PINS_FILE


def _read_pins() -> dict[str, dict]:
    try:
        return json.loads(_pins_path().read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise InputError(f"{_pins_path()}: corrupt pins file ({exc}); fix or delete it, then re-import the weights") from None


def _write_pin(name: str, **record) -> None:
    with _LOCK:
        pins = _read_pins()
        pins[name] = {**pins.get(name, {}), **record}
        atomic_write_json(_pins_path(), pins)


def _drop_pin(name: str) -> None:
    with _LOCK:
        pins = _read_pins()
        if name in pins:
            del pins[name]
            atomic_write_json(_pins_path(), pins)


def expected_sha256(name: str) -> tuple[str | None, str]:
    """The hash a file must have and where it comes from ('published', 'pinned' or 'none')."""
    spec = get_spec(name)
    if spec.sha256:
        return spec.sha256, "published"
    pin = _read_pins().get(name, {}).get("sha256")
    return (pin, "pinned") if pin else (None, "none")


def _dir_sha256(root: Path) -> str:
    """Hash of a folder: SHA-256 of the sorted (relative path, file SHA-256) list."""
    entries = sorted((p.relative_to(root).as_posix(), sha256_file(p)) for p in root.rglob("*") if p.is_file())
    return sha256_json(entries)


def _hash_path(path: Path, kind: str) -> str:
    return _dir_sha256(path) if kind == "dir" else sha256_file(path)


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def is_available(name: str) -> bool:
    """True when the file is in the cache (cheap: existence and size; :func:`require` verifies the hash)."""
    spec = get_spec(name)
    path = cache_path(name)
    if spec.kind == "dir":
        return path.is_dir() and any(path.iterdir())
    if not path.is_file():
        return False
    return spec.size is None or path.stat().st_size == spec.size


def file_sha256(name: str) -> str:
    """SHA-256 of the cached file (or folder); raises MissingWeightsError when absent."""
    spec = get_spec(name)
    path = cache_path(name)
    if not (path.is_dir() if spec.kind == "dir" else path.is_file()):
        raise _missing(spec)
    return _hash_path(path, spec.kind)


def _fix_commands(spec: WeightSpec) -> str:
    cmds = []
    if spec.urls and spec.kind == "file":
        cmds.append(f"`flashbench weights download {spec.name}`")
    cmds.append(f"`flashbench weights import {spec.name} PATH` (PATH = a local copy of {spec.filename})")
    return " or ".join(cmds)


def _missing(spec: WeightSpec) -> MissingWeightsError:
    where = f" from {spec.urls[0]}" if spec.urls else ""
    return MissingWeightsError(
        f"weight file {spec.filename!r} ({spec.name}: {spec.description}) is not in the cache {cache_root()}; "
        f"get it{where} with {_fix_commands(spec)}"
    )


def verify(name: str) -> tuple[bool, str]:
    """Re-hash the cached file against its published or pinned SHA-256."""
    spec = get_spec(name)
    path = cache_path(name)
    if not (path.is_dir() if spec.kind == "dir" else path.is_file()):
        return False, f"{spec.filename}: not in the cache; {_fix_commands(spec)}"
    digest = _hash_path(path, spec.kind)
    expected, source = expected_sha256(name)
    if expected is None:
        _write_pin(name, sha256=digest, stamp=_stamp(path), source="verify", verified=digest)
        return True, f"{spec.filename}: sha256 {digest} (no published hash; pinned now)"
    if digest != expected:
        return False, (
            f"{spec.filename}: sha256 {digest} does not match the {source} hash {expected}; the file is corrupt or a "
            f"different version: delete {path} and {_fix_commands(spec)}"
        )
    _write_pin(name, stamp=_stamp(path), verified=digest)
    return True, f"{spec.filename}: sha256 {digest} ok ({source})"


def require(name: str) -> Path:
    """The verified cached path of ``name``; MissingWeightsError / WeightsIntegrityError otherwise.

    The full hash is recomputed only when the file's size or modification time changed since
    it was last verified.
    """
    spec = get_spec(name)
    path = cache_path(name)
    if not (path.is_dir() if spec.kind == "dir" else path.is_file()):
        raise _missing(spec)
    pin = _read_pins().get(name, {})
    expected, _ = expected_sha256(name)
    if spec.kind == "file" and expected and pin.get("verified") == expected and pin.get("stamp") == _stamp(path):
        return path
    ok, message = verify(name)
    if not ok:
        raise WeightsIntegrityError(message)
    return path


def verified_sha256(name: str) -> str:
    """:func:`require` the file and return its verified SHA-256 (no re-hash when unchanged)."""
    require(name)
    digest = _read_pins().get(name, {}).get("verified")
    return digest if digest else file_sha256(name)


# ----------------------------------------------------------------------------- import / download


def check_format(spec: WeightSpec, path: Path, source: str) -> None:
    """Refuse a file that cannot be what ``spec`` names (a truncated download, an HTML error page...)."""
    if spec.file_format == "torch":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise WeightsIntegrityError(
                f"{source}: not a readable PyTorch/TorchScript file ({exc}); {spec.filename} is a zip archive - the copy is "
                f"truncated or corrupt: fetch it again, then {_fix_commands(spec)}"
            ) from None


def _check_and_pin(spec: WeightSpec, digest: str, source: str, force: bool) -> None:
    expected, origin = expected_sha256(spec.name)
    if expected is not None and digest != expected:
        if origin == "published" or not force:
            hint = "" if origin == "published" else f" (it was pinned earlier; pass --force to re-pin {spec.name})"
            raise WeightsIntegrityError(
                f"{spec.filename} from {source}: sha256 {digest} does not match the {origin} hash {expected}{hint}"
            )
    if spec.sha256 is None:
        _write_pin(spec.name, sha256=digest, source=source, pinned_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def import_file(name: str, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Copy a local file (or folder) into the cache after checking or pinning its SHA-256."""
    spec = get_spec(name)
    src = Path(path).expanduser()
    if spec.kind == "file" and not src.is_file():
        raise InputError(f"{src}: not a file; `flashbench weights import {name} PATH` needs a local copy of {spec.filename}")
    if spec.kind == "dir" and not src.is_dir():
        raise InputError(f"{src}: not a folder; {name} is a folder of files ({spec.filename})")
    if spec.kind == "file" and spec.size is not None and src.stat().st_size != spec.size:
        raise WeightsIntegrityError(f"{src}: {src.stat().st_size} bytes, {spec.filename} has {spec.size}")
    check_format(spec, src, str(src))
    digest = _hash_path(src, spec.kind)
    _check_and_pin(spec, digest, str(src), force)
    dest = cache_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if spec.kind == "file":
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    else:
        tmp = dest.with_name(f".{dest.name}.importing")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        old = dest.with_name(f".{dest.name}.old")
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    _write_pin(name, stamp=_stamp(dest) if spec.kind == "file" else None, verified=digest)
    return dest


def _fetch(url: str, part: Path, progress: bool, total_hint: int | None, timeout: float) -> None:
    """Append ``url`` to ``part``, resuming from its current size with an HTTP Range request."""
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "flashbench"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # already complete
            return
        raise
    with resp:
        if start and resp.status != 206:  # server ignored the range: start over
            start = 0
        length = resp.headers.get("Content-Length")
        total = (start + int(length)) if length is not None else total_hint
        mode = "ab" if start else "wb"
        bar = None
        if progress:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            bar = Progress(BarColumn(), DownloadColumn(), TransferSpeedColumn())
            bar.start()
            task = bar.add_task(part.name, total=total, completed=start)
        try:
            with open(part, mode) as f:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    f.write(chunk)
                    if bar is not None:
                        bar.update(task, advance=len(chunk))
                f.flush()
                os.fsync(f.fileno())
        finally:
            if bar is not None:
                bar.stop()
    got = part.stat().st_size
    if length is not None and got != total:  # http.client does not flag a short body
        raise ValueError(f"connection closed after {got} of {total} bytes")


def download(name: str, progress: bool = True, *, timeout: float = 60.0) -> Path:
    """Download ``name`` into the cache (explicit only). A partial ``.part`` file is resumed;
    the result is hash-checked (or pinned) before it takes its final name."""
    spec = get_spec(name)
    if spec.kind != "file":
        raise InputError(f"{name} is a folder of files; fetch it yourself and run `flashbench weights import {name} PATH`")
    if not spec.urls:
        raise InputError(f"{name} has no download URL; run `flashbench weights import {name} PATH`")
    dest = cache_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in spec.urls:
        try:
            _fetch(url, part, progress, spec.size, timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if spec.size is not None and part.stat().st_size != spec.size:
            errors.append(f"{url}: got {part.stat().st_size} bytes, expected {spec.size}")
            part.unlink(missing_ok=True)
            continue
        digest = sha256_file(part)
        try:
            check_format(spec, part, url)
            _check_and_pin(spec, digest, url, force=False)
        except WeightsIntegrityError:
            part.unlink(missing_ok=True)  # a complete file with the wrong hash cannot be resumed
            raise
        os.replace(part, dest)
        _write_pin(name, stamp=_stamp(dest), verified=digest)
        return dest
    raise MissingWeightsError(
        f"could not download {spec.filename}: " + "; ".join(errors)
        + f". Without network access, copy the file here and run `flashbench weights import {name} PATH`"
        + (f" (a partial download is kept in {part}; rerun to resume)" if part.exists() else "")
    )


def status(name: str) -> dict:
    """What ``flashbench weights ls`` shows for one entry (no hashing)."""
    spec = get_spec(name)
    expected, source = expected_sha256(name)
    return {
        "name": spec.name,
        "file": spec.filename,
        "present": is_available(name),
        "sha256": expected,
        "hash_source": source,
        "path": str(cache_path(name)),
        "description": spec.description,
    }


# ----------------------------------------------------------------------------- official entries

_SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/{}.pt"

register(WeightSpec(
    name="inception-2015-12-05",
    filename="inception-2015-12-05.pt",
    urls=("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",),
    size=None,
    sha256=None,  # no hash published by the distributor: pinned at first import/download
    description="InceptionV3 pool3 (TF 2015-12-05 weights, TorchScript, as clean-fid): FID features",
    file_format="torch",
))
register(WeightSpec(
    name="i3d_torchscript",
    filename="i3d_torchscript.pt",
    urls=("https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",),
    size=None,
    sha256=None,
    description="I3D Kinetics-400 (TorchScript port used by StyleGAN-V): FVD features",
    file_format="torch",
))
for _size in ("tiny", "small", "base_plus", "large"):
    register(WeightSpec(
        name=f"sam2.1_hiera_{_size}",
        filename=f"sam2.1_hiera_{_size}.pt",
        urls=(_SAM2_URL.format(f"sam2.1_hiera_{_size}"),),
        size=None,
        sha256=None,
        description=f"SAM2.1 Hiera-{_size} video predictor checkpoint (Meta): IoU segmenter",
        file_format="torch",
    ))
