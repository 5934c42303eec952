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


def test_one_few_step_schedule_everywhere():
    """Configs, the default object and the training-side helper share one list and one mapping."""
    from flashmotion.configs import TINY, WAN22_TI2V_5B

    assert WAN22_TI2V_5B.sampling.few_step_schedule() == TINY.sampling.few_step_schedule() == DEFAULT_FEW_STEP
    x0, eps = torch.randn(2, 3), torch.randn(2, 3)
    for i, s in enumerate(DEFAULT_FEW_STEP.sigmas()):
        xt, t = DEFAULT_FEW_STEP.noised(x0, eps, i)
        assert t == pytest.approx(float(DEFAULT_FEW_STEP.model_timesteps()[i]))
        assert torch.allclose(xt, (1 - s.float()) * x0 + s.float() * eps, atol=1e-6)


def _tiny_resnet_model():
    from flashmotion.adapters import build_adapter
    from flashmotion.configs import TINY
    from flashmotion.model import FlashMotionModel, build_transformer

    torch.manual_seed(0)
    backbone = build_transformer(TINY).eval()
    adapter = build_adapter("resnet", TINY).eval()
    for p in adapter.proj.parameters():
        nn.init.normal_(p, std=0.05)
    return FlashMotionModel(backbone, adapter)


def test_denoising_loop_holds_only_network_calls_and_updates():
    """Per-video work (state-free adapter features, noise draws) happens in ``prepare``; the
    loops call the network steps x branches times and never the adapter's features nor the RNG."""
    from flashmotion.samplers import denoise_fewstep, denoise_multistep, prepare

    model = _tiny_resnet_model()
    shape = (1, 48, 2, 4, 4)
    g = torch.Generator().manual_seed(3)
    cond = Conditions(first_latent=torch.randn(1, 48, 1, 4, 4, generator=g), text=torch.randn(1, 8, 32, generator=g),
                      traj_latent=torch.randn(shape, generator=g), negative_text=torch.randn(1, 8, 32, generator=g))
    counts = {"features": 0, "calls": 0}
    features = model.adapter.features

    def counted_features(traj):
        counts["features"] += 1
        return features(traj)

    model.adapter.features = counted_features
    hook = model.transformer.register_forward_hook(lambda *a: counts.__setitem__("calls", counts["calls"] + 1))
    try:
        gen = torch.Generator().manual_seed(9)
        prep = prepare(model, cond, shape, gen, DEFAULT_FEW_STEP.steps)
        assert counts == {"features": 1, "calls": 0} and len(prep.noise) == 4
        rng_state = gen.get_state()
        out = denoise_fewstep(model, prep, DEFAULT_FEW_STEP)
        assert counts == {"features": 1, "calls": 4} and torch.equal(gen.get_state(), rng_state)
        # The convenience sampler is exactly prepare + loop.
        assert torch.equal(sample_fewstep(model, cond, shape, torch.Generator().manual_seed(9), DEFAULT_FEW_STEP), out)
        counts.update(features=0, calls=0)
        prep1 = prepare(model, cond, shape, torch.Generator().manual_seed(9), 1)
        slow = denoise_multistep(model, prep1, steps=3, shift=5.0, guidance_scale=5.0)
        assert counts == {"features": 1, "calls": 6}
        assert torch.equal(slow, sample_multistep(model, cond, shape, torch.Generator().manual_seed(9), 3, 5.0, 5.0))
    finally:
        hook.remove()


def test_fewstep_chain_renoises_like_the_training_helper():
    """The input of step i + 1 is ``schedule.noised(x0_i, eps_{i+1}, i + 1)`` (first frame pasted)."""
    from flashmotion.samplers import denoise_fewstep, prepare

    shape = (1, 4, 3, 4, 4)
    target = torch.randn(shape, generator=torch.Generator().manual_seed(1))

    class _Recorder(_OracleModel):
        def __init__(self, target):
            super().__init__(target)
            self.inputs = []

        def forward(self, x, ts, text, traj, features=None):
            self.inputs.append(x.clone())
            return 0.5 * x  # an imperfect field: x0 differs from step to step

    model, cond = _Recorder(target), _cond(shape)
    prep = prepare(model, cond, shape, torch.Generator().manual_seed(0), DEFAULT_FEW_STEP.steps)
    denoise_fewstep(model, prep, DEFAULT_FEW_STEP)
    sig = [float(s) for s in DEFAULT_FEW_STEP.sigmas()]
    for i in range(DEFAULT_FEW_STEP.steps - 1):
        x = model.inputs[i]
        x0 = x - sig[i] * (0.5 * x)
        expected, _ = DEFAULT_FEW_STEP.noised(x0, prep.noise[i + 1], i + 1)
        assert torch.allclose(model.inputs[i + 1][:, :, 1:], expected[:, :, 1:], atol=1e-6)
        assert torch.equal(model.inputs[i + 1][:, :, :1], cond.first_latent)
