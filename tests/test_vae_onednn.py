"""The oneDNN conv3d route of the VAE gives the default kernel's numbers (and gradients)."""

from __future__ import annotations

import types

import torch
from torch import nn

from flashmotion.configs import TINY
from flashmotion.vae import build_vae


def test_onednn_route_matches_the_default_conv3d():
    torch.manual_seed(0)
    vae = build_vae(TINY)
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    conv = next(m for m in vae.modules() if isinstance(m, nn.Conv3d))
    inp = torch.randn(1, conv.in_channels, 4, 9, 9, requires_grad=True)
    fast = conv._conv_forward(inp, conv.weight, conv.bias)  # the routed method
    fast.sum().backward()
    g_fast = inp.grad.clone()
    inp.grad = None
    ref = nn.Conv3d._conv_forward(conv, inp, conv.weight, conv.bias)
    ref.sum().backward()
    assert torch.allclose(fast, ref, atol=1e-5) and torch.allclose(g_fast, inp.grad, atol=1e-5)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        for m in vae.modules():
            if isinstance(m, nn.Conv3d):
                m._conv_forward = types.MethodType(nn.Conv3d._conv_forward, m)
        z_ref = vae.encode(x).latent_dist.mode()
    assert torch.allclose(z, z_ref, atol=1e-5)  # measured 7e-7 on the 33-frame reference VAE
