"""Feature extractors for FID (InceptionV3 pool3) and FVD (I3D Kinetics-400).

Each extractor is official (the TorchScript file named by the protocol, loaded from the
weights cache with its SHA-256 checked) or a *proxy*: the same architecture with seeded
random weights, usable with no downloads, whose numbers are labelled as proxy everywhere
and never comparable to published ones. ``mode="auto"`` picks official when the file is in
the cache. Nothing downloads implicitly.

Call conventions (docs/protocol.md, sections 4-5):

* Inception: ``(B, 3, 299, 299)`` float on the 0..255 scale (already resized by clean-fid's
  ``clean`` mode) -> ``(B, 2048)``; the network sees ``(x - 128) / 128``. The official file
  is called as clean-fid does: its ``layers`` submodule on the normalised input.
* I3D: ``(B, 3, T, H, W)`` uint8 -> ``(B, 400)``; the official file is called with
  ``rescale=True, resize=True, return_features=True`` (it maps to [-1, 1] and resizes to
  224x224 itself); the proxy does the same in code.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import weights
from ..errors import InputError

Mode = Literal["auto", "official", "proxy"]
MODES = ("auto", "official", "proxy")

INCEPTION_WEIGHTS = "inception-2015-12-05"
I3D_WEIGHTS = "i3d_torchscript"
PROXY_SEED = 20251124  # fixed: the proxy networks are part of the code, like a checkpoint


@dataclass(frozen=True)
class ExtractorInfo:
    """Identity of a feature extractor or segmenter, recorded with every result."""

    name: str
    sha256: str | None  # of the weight file (official) or of the seeded parameters (proxy)
    official: bool
    dim: int
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def label(self) -> str:
        return "official" if self.official else "proxy"


def module_sha256(module: nn.Module) -> str:
    """SHA-256 over parameter and buffer names, shapes, dtypes and bytes, in state-dict order."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def _jit_load(path, device: str, name: str) -> torch.jit.ScriptModule:
    """Load an official TorchScript file (the format the publishers ship; its deprecation notice is noise here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError) as exc:  # verified bytes that are not TorchScript (a wrong file was imported)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
            raise InputError(
                f"{path}: cannot load it as TorchScript ({first}); it is not the expected file - import the right one "
                f"with `flashbench weights import {name} PATH --force`"
            ) from None


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InputError(f"extractor mode must be one of {MODES}, got {mode!r}")


def _use_official(mode: str, name: str) -> bool:
    _check_mode(mode)
    if mode == "official":
        return True
    if mode == "proxy":
        return False
    return weights.is_available(name)


def _seeded_init(module: nn.Module, seed: int) -> None:
    """Variance-preserving random weights (He init, identity batch norm), from a private RNG."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()


# ----------------------------------------------------------------------------- Inception


class InceptionExtractor:
    """Callable: float (B, 3, 299, 299) on 0..255 -> float32 (B, 2048)."""

    dim = 2048

    def __init__(self, features: nn.Module, info: ExtractorInfo, device: str):
        self.device = torch.device(device)
        # On CPU, oneDNN's convolutions run 1.3x (2 threads) to 1.5x (1 thread) faster channels-last
        # (benchmarks/bench_inception_layout.py); features differ by float32 rounding only.
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.features = features.to(memory_format=self.memory_format)  # maps (x - 128) / 128 to (B, 2048)
        self.info = info

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (3, 299, 299):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Inception input must be a (B, 3, 299, 299) tensor on 0..255, got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"Inception input must be float on the 0..255 scale (clean-fid resize), got {x.dtype}")
        with torch.no_grad():
            x = ((x.to(self.device, torch.float32) - 128.0) / 128.0).contiguous(memory_format=self.memory_format)
            out = self.features(x).reshape(x.shape[0], -1)
        if out.shape[1] != self.dim:
            raise ValueError(f"{self.info.name}: produced {out.shape[1]}-d features, expected {self.dim}")
        return out.float()


class _InceptionPool3(nn.Module):
    """torchvision's InceptionV3 up to the 2048-d global average pool (pool3)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False)
        net.fc = nn.Identity()
        net.dropout = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@functools.lru_cache(maxsize=4)
def _inception_proxy(device: str) -> tuple[nn.Module, str]:
    net = _InceptionPool3()
    _seeded_init(net, PROXY_SEED)
    net.eval().requires_grad_(False)
    return net.to(device), module_sha256(net)


class _OfficialInceptionLayers(nn.Module):
    def __init__(self, script: torch.jit.ScriptModule):
        super().__init__()
        self.script = script

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.script.layers.forward(x)


def load_inception(mode: Mode = "auto", device: str = "cpu") -> InceptionExtractor:
    """The FID feature extractor: official TorchScript from the cache, or the seeded proxy."""
    if _use_official(mode, INCEPTION_WEIGHTS):
        path = weights.require(INCEPTION_WEIGHTS)
        script = _jit_load(path, device, INCEPTION_WEIGHTS)
        if not hasattr(script, "layers"):
            raise InputError(f"{path}: TorchScript has no `layers` submodule; it is not the clean-fid Inception file")
        info = ExtractorInfo(name=INCEPTION_WEIGHTS, sha256=weights.verified_sha256(INCEPTION_WEIGHTS), official=True, dim=2048,
                             notes="TorchScript layers on (x-128)/128 after clean-fid clean resize")
        return InceptionExtractor(_OfficialInceptionLayers(script), info, device)
    net, digest = _inception_proxy(str(device))
    info = ExtractorInfo(name="inception-v3-proxy", sha256=digest, official=False, dim=2048,
                         notes=f"torchvision InceptionV3 pool3, seeded random weights (seed {PROXY_SEED})")
    return InceptionExtractor(net, info, device)


# ----------------------------------------------------------------------------- I3D


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (front, back) for one dimension."""
    total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
    return total // 2, total - total // 2


def _pad3d(x: torch.Tensor, k: tuple[int, int, int], s: tuple[int, int, int]) -> torch.Tensor:
    (tf, tb), (hf, hb), (wf, wb) = (_same_pad(x.shape[2 + i], k[i], s[i]) for i in range(3))
    return F.pad(x, (wf, wb, hf, hb, tf, tb))


class Unit3D(nn.Module):
    """Conv3d with TF 'SAME' padding, batch norm and ReLU (as the Kinetics-400 I3D)."""

    def __init__(self, cin: int, cout: int, k=(1, 1, 1), s=(1, 1, 1), bn: bool = True, relu: bool = True, bias: bool = False):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)
        self.conv = nn.Conv3d(cin, cout, self.k, self.s, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_pad3d(x, self.k, self.s))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    def __init__(self, k, s):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad3d(x, self.k, self.s), self.k, self.s)


class InceptionBlock3D(nn.Module):
    def __init__(self, cin: int, c: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1 = nn.Sequential(Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3)))
        self.b2 = nn.Sequential(Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3)))
        self.b3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5]))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


class InceptionI3d(nn.Module):
    """Inflated Inception-v1 for Kinetics-400 (Carreira & Zisserman, 2017), written from the paper's layer table.

    ``forward(x, rescale, resize, return_features)`` follows the StyleGAN-V TorchScript: uint8
    (B, 3, T, H, W) in, ``rescale`` maps 0..255 to [-1, 1], ``resize`` resizes each frame to
    ``input_size`` (bilinear), and ``return_features`` returns the 400 logits averaged over time
    (before the softmax) instead of probabilities.
    """

    MIXED = (
        ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
        ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
        ("MaxPool3d_4a_3x3", ((3, 3, 3), (2, 2, 2))),
        ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
        ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
        ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
        ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
        ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
        ("MaxPool3d_5a_2x2", ((2, 2, 2), (2, 2, 2))),
        ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
        ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
    )

    def __init__(self, num_classes: int = 400, input_size: int = 224):
        super().__init__()
        self.input_size = input_size
        layers: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2))),
            ("MaxPool3d_2a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3D(64, 64)),
            ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
            ("MaxPool3d_3a_3x3", MaxPool3dSame((1, 3, 3), (1, 2, 2))),
        ]
        c = 192
        for name, spec in self.MIXED:
            if name.startswith("MaxPool"):
                layers.append((name, MaxPool3dSame(*spec)))
            else:
                block = InceptionBlock3D(c, spec)
                layers.append((name, block))
                c = block.out_channels
        self.features = nn.Sequential()
        for name, mod in layers:
            self.features.add_module(name, mod)
        self.logits = Unit3D(c, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = True) -> torch.Tensor:
        if rescale:
            x = x.float() / 127.5 - 1.0
        if resize and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(x.shape[2], self.input_size, self.input_size), mode="trilinear", align_corners=False)
        x = self.features(x)
        # (2, 7, 7) average pool of the original; smaller where the input is smaller (tiny test inputs)
        k = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = F.avg_pool3d(x, k, stride=1)
        logits = self.logits(x).mean(dim=(3, 4))  # (B, 400, T')
        logits = logits.mean(dim=2)
        return logits if return_features else F.softmax(logits, dim=1)


class I3DExtractor:
    """Callable: uint8 (B, 3, T, H, W) -> float32 (B, 400)."""

    dim = 400

    def __init__(self, net: nn.Module, info: ExtractorInfo, device: str):
        self.net = net
        self.info = info
        self.device = torch.device(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"I3D input must be a uint8 (B, 3, T, H, W) tensor, got {shape}")
        if x.dtype != torch.uint8:
            raise ValueError(f"I3D input must be uint8 0..255 (the network rescales itself), got {x.dtype}")
        with torch.no_grad():
            try:
                out = self.net(x.to(self.device), rescale=True, resize=True, return_features=True)
            except (RuntimeError, TypeError) as exc:
                if not self.info.official:
                    raise
                # a TorchScript file with another call signature fails only here, at its first call
                raise InputError(
                    f"{self.info.name}: the I3D file does not take (x, rescale, resize, return_features) "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); it is not StyleGAN-V's "
                    "i3d_torchscript.pt - import the right file with `flashbench weights import i3d_torchscript PATH --force`"
                ) from exc
        out = out.reshape(x.shape[0], -1)
        if out.shape[1] != self.dim:
            raise ValueError(f"{self.info.name}: produced {out.shape[1]}-d features, expected {self.dim}")
        return out.float()


@functools.lru_cache(maxsize=4)
def _i3d_proxy(device: str, input_size: int) -> tuple[nn.Module, str]:
    net = InceptionI3d(400, input_size=input_size)
    _seeded_init(net, PROXY_SEED + 1)
    net.eval().requires_grad_(False)
    return net.to(device), module_sha256(net)


def i3d_proxy(device: str = "cpu", input_size: int = 224) -> I3DExtractor:
    """The proxy I3D; ``input_size`` other than 224 exists for fast tests and is recorded in the name."""
    net, digest = _i3d_proxy(str(device), int(input_size))
    name = "i3d-k400-proxy" if input_size == 224 else f"i3d-k400-proxy@{input_size}"
    info = ExtractorInfo(name=name, sha256=digest, official=False, dim=400,
                         notes=f"InceptionI3d in code, seeded random weights (seed {PROXY_SEED + 1}), resize {input_size}")
    return I3DExtractor(net, info, device)


def load_i3d(mode: Mode = "auto", device: str = "cpu") -> I3DExtractor:
    """The FVD feature extractor: official TorchScript from the cache, or the seeded proxy."""
    if _use_official(mode, I3D_WEIGHTS):
        path = weights.require(I3D_WEIGHTS)
        script = _jit_load(path, device, I3D_WEIGHTS)
        info = ExtractorInfo(name=I3D_WEIGHTS, sha256=weights.verified_sha256(I3D_WEIGHTS), official=True, dim=400,
                             notes="StyleGAN-V TorchScript, rescale=True resize=True return_features=True")
        return I3DExtractor(script, info, device)
    return i3d_proxy(device)
