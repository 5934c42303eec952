"""An official-looking weight file with the wrong call signature fails with a clear error."""

from __future__ import annotations

import pytest
import torch

from flashbench import weights
from flashbench.errors import InputError


class _OneArg(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(dim=(2, 3, 4))


def test_i3d_file_with_another_signature_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_OneArg()).save(str(path))
    weights.import_file("i3d_torchscript", path)

    from flashbench.metrics import load_i3d

    ext = load_i3d("official")
    assert ext.info.official
    with pytest.raises(InputError, match="not StyleGAN-V's i3d_torchscript.pt.*weights import i3d_torchscript PATH --force"):
        ext(torch.zeros(1, 3, 16, 32, 32, dtype=torch.uint8))
