"""Schedules and the two samplers (checked against an oracle flow field)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from flashmotion.samplers import Conditions, paste_first_frame, sample_fewstep, sample_multistep, token_timesteps
from flashmotion.schedules import DEFAULT_FEW_STEP, FewStepSchedule, multistep_sigmas, shift_sigma


def test_fewstep_schedule_maps_list_to_shifted_sigmas():
    s = DEFAULT_FEW_STEP
    assert s.timesteps == (1000.0, 750.0, 500.0, 250.0) and s.shift == 5.0
    # sigma = 5 u / (1 + 4 u), u = t / 1000
    expected = [1.0, 3.75 / 4.0, 2.5 / 3.0, 1.25 / 2.0]
    assert torch.allclose(s.sigmas(), torch.tensor(expected, dtype=torch.float64))
    assert torch.allclose(s.model_timesteps(), 1000 * torch.tensor(expected, dtype=torch.float64))
    assert FewStepSchedule.parse("1000, 750,500,250") == s
    with pytest.raises(ValueError):
        FewStepSchedule((500.0, 750.0))
    with pytest.raises(ValueError):
        FewStepSchedule((1200.0,))


def test_multistep_sigmas():
    sig = multistep_sigmas(50, 5.0)
    assert sig.shape == (51,) and sig[0] == 1.0 and sig[-1] == 0.0
    assert torch.all(sig[1:] < sig[:-1])
    assert torch.isclose(sig[25], torch.tensor(shift_sigma(0.5, 5.0), dtype=torch.float64))


def test_token_timesteps_zero_on_first_frame():
    ts = token_timesteps(700.0, (3, 2, 2), "cpu", batch=2)
    assert ts.shape == (2, 12)
    assert torch.all(ts[:, :4] == 0) and torch.all(ts[:, 4:] == 700.0)


class _OracleModel(nn.Module):
    """Returns the exact flow ``v = (x_t - x0*) / s`` towards a fixed target ``x0*``.

    Both samplers must then land on ``x0*`` (frame 0 replaced by the first-frame latent).
    It also records the per-token timesteps it was called with.
    """

    adapter = None
    adapter_uses_state = False

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target
        self.calls: list[torch.Tensor] = []

        class _T:  # the token grid the samplers ask for
            @staticmethod
            def token_grid(shape):
                return shape[2], shape[3] // 2, shape[4] // 2

        self.transformer = _T()

    def static_features(self, traj):
        return None

    def forward(self, x, ts, text, traj, features=None):
        self.calls.append(ts.clone())
        s = ts.max() / 1000.0
        return (x - self.target) / s


def _cond(shape):
    g = torch.Generator().manual_seed(5)
    first = torch.randn(1, shape[1], 1, shape[3], shape[4], generator=g)
    text = torch.zeros(1, 4, 8)
    return Conditions(first_latent=first, text=text, traj_latent=None, negative_text=text)


def test_fewstep_chain_reaches_oracle_target_and_keeps_first_frame():
    shape = (1, 4, 3, 4, 4)
    target = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    model, cond = _OracleModel(target), _cond(shape)
    out = sample_fewstep(model, cond, shape, torch.Generator().manual_seed(0), DEFAULT_FEW_STEP)
    assert torch.allclose(out[:, :, 1:], target[:, :, 1:], atol=1e-5)
    assert torch.equal(out[:, :, :1], cond.first_latent)
    seen = [float(c.max()) for c in model.calls]
    assert seen == pytest.approx([float(t) for t in DEFAULT_FEW_STEP.model_timesteps()])
    assert all(torch.all(c[:, :4] == 0) for c in model.calls)  # first-frame tokens at t = 0


def test_multistep_cfg_reaches_oracle_target():
    shape = (1, 4, 3, 4, 4)
    target = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    model, cond = _OracleModel(target), _cond(shape)
    out = sample_multistep(model, cond, shape, torch.Generator().manual_seed(0), steps=6, shift=5.0, guidance_scale=5.0)
    assert torch.allclose(out[:, :, 1:], target[:, :, 1:], atol=1e-4)
    assert torch.equal(out[:, :, :1], cond.first_latent)
    assert len(model.calls) == 12  # 6 steps x 2 CFG branches


def test_samplers_are_deterministic_per_seed():
    shape = (1, 4, 3, 4, 4)
    target = torch.zeros(shape)
    cond = _cond(shape)

    class _Noisy(_OracleModel):  # output depends on the noise, so the seed matters
        def forward(self, x, ts, text, traj, features=None):
            return x

    runs = [sample_fewstep(_Noisy(target), cond, shape, torch.Generator().manual_seed(s), DEFAULT_FEW_STEP) for s in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_paste_first_frame():
    x = torch.ones(1, 2, 3, 2, 2)
    first = torch.zeros(1, 2, 1, 2, 2)
    y = paste_first_frame(x, first)
    assert torch.equal(y[:, :, 0:1], first) and torch.equal(y[:, :, 1:], x[:, :, 1:])
