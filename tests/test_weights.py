"""The weights cache: registry, import, pinning, verification, resumable loopback download."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading

import pytest
import torch

from flashbench import weights
from flashbench.errors import MissingWeightsError
from flashbench.weights import WeightsIntegrityError, WeightSpec


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def spec_factory():
    names = []

    def make(name, sha256=None, urls=(), size=None, kind="file", file_format=None):
        names.append(name)
        return weights.register(WeightSpec(name, f"{name}.bin", tuple(urls), size, sha256, "test weight", kind, file_format), replace=True)

    yield make
    for n in names:
        weights.unregister(n)


class _OfficialSignatureInception(torch.nn.Module):
    """A tiny module with the clean-fid Inception TorchScript's call signature."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 2048))

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return self.layers((x - 128) / 128)


def test_official_entries_registered():
    names = {s.name for s in weights.all_specs()}
    assert {"inception-2015-12-05", "i3d_torchscript", "sam2.1_hiera_tiny", "sam2.1_hiera_small",
            "sam2.1_hiera_base_plus", "sam2.1_hiera_large"} <= names
    assert weights.get_spec("inception-2015-12-05").filename == "inception-2015-12-05.pt"
    assert weights.get_spec("i3d_torchscript").urls[0].startswith("https://www.dropbox.com/")
    assert weights.get_spec("sam2.1_hiera_large").urls[0].endswith("/sam2.1_hiera_large.pt")


def test_missing_weight_names_file_and_fix(home):
    assert not weights.is_available("inception-2015-12-05")
    with pytest.raises(MissingWeightsError) as exc:
        weights.require("inception-2015-12-05")
    msg = str(exc.value)
    assert "inception-2015-12-05.pt" in msg
    assert "flashbench weights download inception-2015-12-05" in msg
    assert "flashbench weights import inception-2015-12-05 PATH" in msg
    with pytest.raises(Exception, match="unknown weight"):
        weights.get_spec("nope")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_loads_through_cache_with_pinned_hash(home, tmp_path):
    from flashbench.metrics import load_inception

    assert not load_inception("auto").info.official  # nothing cached yet: auto falls back to the proxy
    src = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(_OfficialSignatureInception()).save(str(src))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = weights.import_file("inception-2015-12-05", src)
    assert dest == weights.cache_path("inception-2015-12-05") and dest.is_file()
    assert weights.expected_sha256("inception-2015-12-05") == (digest, "pinned")
    assert weights.require("inception-2015-12-05") == dest
    ext = load_inception("auto")
    assert ext.info.official and ext.info.sha256 == digest and ext.info.name == "inception-2015-12-05"
    x = torch.rand(2, 3, 299, 299) * 255
    ref = torch.jit.load(str(src)).layers((x - 128) / 128)
    torch.testing.assert_close(ext(x), ref)
    # corrupt the cached file: refused with a clear error
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    os.utime(dest, ns=(1, 1))
    with pytest.raises(WeightsIntegrityError, match="does not match the pinned hash"):
        weights.require("inception-2015-12-05")
    ok, msg = weights.verify("inception-2015-12-05")
    assert not ok and digest in msg
    with pytest.raises(WeightsIntegrityError):
        load_inception("official")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_i3d_official_signature(home, tmp_path):
    from flashbench.metrics import load_i3d

    class I3DSig(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> torch.Tensor:
            y = x.float()
            if rescale:
                y = y / 127.5 - 1
            return y.mean(dim=(2, 3, 4)).repeat(1, 134)[:, :400] * (1.0 if return_features else 0.0) * (1.0 if resize else -1.0)

    src = tmp_path / "i3d.pt"
    torch.jit.script(I3DSig()).save(str(src))
    weights.import_file("i3d_torchscript", src)
    ext = load_i3d("auto")
    assert ext.info.official and ext.info.dim == 400
    clip = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    out = ext(clip)
    expected = (clip.float() / 127.5 - 1).mean(dim=(2, 3, 4))
    torch.testing.assert_close(out[:, :3], expected)  # proves rescale, resize and return_features were all True


def test_published_hash_mismatch_refused(home, tmp_path, spec_factory):
    f = tmp_path / "w.bin"
    f.write_bytes(b"hello")
    spec_factory("t-pub", sha256="0" * 64)
    with pytest.raises(WeightsIntegrityError, match="published hash"):
        weights.import_file("t-pub", f)
    assert not weights.cache_path("t-pub").exists()
    spec_factory("t-ok", sha256=hashlib.sha256(b"hello").hexdigest())
    weights.import_file("t-ok", f)
    assert weights.verify("t-ok")[0]


def test_repin_requires_force(home, tmp_path, spec_factory):
    spec_factory("t-pin")
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"aaa")
    b.write_bytes(b"bbb")
    weights.import_file("t-pin", a)
    with pytest.raises(WeightsIntegrityError, match="--force"):
        weights.import_file("t-pin", b)
    weights.import_file("t-pin", b, force=True)
    assert weights.file_sha256("t-pin") == hashlib.sha256(b"bbb").hexdigest()
    assert weights.expected_sha256("t-pin")[0] == hashlib.sha256(b"bbb").hexdigest()


def test_dir_kind(home, tmp_path, spec_factory):
    spec_factory("t-dir", kind="dir")
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "sub" / "w.safetensors").write_bytes(b"123")
    dest = weights.import_file("t-dir", src)
    assert (dest / "sub" / "w.safetensors").read_bytes() == b"123"
    assert weights.require("t-dir") == dest
    (dest / "sub" / "w.safetensors").write_bytes(b"124")
    with pytest.raises(WeightsIntegrityError):
        weights.require("t-dir")


# ----------------------------------------------------------------------------- loopback download


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    fail_after: int | None = None  # bytes to send before dropping the connection (first request only)
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        rng = self.headers.get("Range")
        cls.requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = cls.payload[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(cls.payload) - 1}/{len(cls.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cls.fail_after is not None:
            n, cls.fail_after = cls.fail_after, None
            self.wfile.write(body[:n])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    handler = type("H", (_RangeHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/w.bin"
    httpd.shutdown()
    httpd.server_close()


def test_download_resumes_partial_file(home, server, spec_factory):
    handler, url = server
    handler.payload = os.urandom(300_000)
    digest = hashlib.sha256(handler.payload).hexdigest()
    spec_factory("t-dl", sha256=digest, urls=[url], size=len(handler.payload))
    part = weights.cache_path("t-dl").with_name("t-dl.bin.part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(handler.payload[:100_000])  # an interrupted earlier download
    path = weights.download("t-dl", progress=False)
    assert path.read_bytes() == handler.payload
    assert handler.requests == ["bytes=100000-"]
    assert not part.exists()
    assert weights.require("t-dl") == path


def test_download_interrupted_then_resumed(home, server, spec_factory):
    handler, url = server
    handler.payload = os.urandom(200_000)
    handler.fail_after = 50_000
    spec_factory("t-int", urls=[url])
    with pytest.raises(MissingWeightsError, match="rerun to resume"):
        weights.download("t-int", progress=False)
    part = weights.cache_path("t-int").with_name("t-int.bin.part")
    assert part.stat().st_size == 50_000
    path = weights.download("t-int", progress=False)
    assert path.read_bytes() == handler.payload
    assert handler.requests == [None, "bytes=50000-"]
    # no published hash: pinned at first download
    assert weights.expected_sha256("t-int") == (hashlib.sha256(handler.payload).hexdigest(), "pinned")


def test_download_hash_mismatch(home, server, spec_factory):
    handler, url = server
    handler.payload = b"x" * 1000
    spec_factory("t-bad", sha256="1" * 64, urls=[url])
    with pytest.raises(WeightsIntegrityError, match="does not match the published hash"):
        weights.download("t-bad", progress=False)
    assert not weights.cache_path("t-bad").exists()
    assert not weights.cache_path("t-bad").with_name("t-bad.bin.part").exists()


def test_download_unreachable_says_how_to_import(home, spec_factory):
    spec_factory("t-off", urls=["http://127.0.0.1:9/nothing.bin"])
    with pytest.raises(MissingWeightsError, match="flashbench weights import t-off PATH"):
        weights.download("t-off", progress=False, timeout=2)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_corrupt_or_wrong_torch_files_are_refused_clearly(home, tmp_path):
    """A truncated TorchScript never gets pinned; a valid archive that is not TorchScript fails with the file named."""
    from flashbench.errors import InputError
    from flashbench.metrics import load_inception

    src = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(_OfficialSignatureInception()).save(str(src))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(WeightsIntegrityError, match=r"cut\.pt: not a readable PyTorch/TorchScript file"):
        weights.import_file("inception-2015-12-05", cut)
    assert weights.expected_sha256("inception-2015-12-05") == (None, "none") and not weights.is_available("inception-2015-12-05")
    wrong = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, wrong)  # a zip archive, but a plain checkpoint, not TorchScript
    weights.import_file("inception-2015-12-05", wrong)
    with pytest.raises(InputError, match=r"inception-2015-12-05\.pt: cannot load it as TorchScript.*weights import inception-2015-12-05 PATH --force"):
        load_inception("official")


def test_download_of_a_non_torch_file_is_refused_and_not_pinned(home, server, spec_factory):
    handler, url = server
    handler.payload = b"<html>quota exceeded</html>" * 40  # what a file host serves instead of the file
    spec_factory("t-html", urls=[url], file_format="torch")
    with pytest.raises(WeightsIntegrityError, match="not a readable PyTorch/TorchScript file"):
        weights.download("t-html", progress=False)
    assert weights.expected_sha256("t-html") == (None, "none")
    assert not weights.cache_path("t-html").exists() and not weights.cache_path("t-html").with_name("t-html.bin.part").exists()
