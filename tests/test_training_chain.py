"""The few-step chain is one copy: the sampler runs it, trainers keep the graph at one exit step."""

from __future__ import annotations

import torch

from flashmotion.samplers import fewstep_chain
from flashmotion.schedules import FewStepSchedule


def _chain_inputs():
    g = torch.Generator().manual_seed(0)
    noise = [torch.randn(1, 2, 3, 2, 2, generator=g) for _ in range(4)]
    w = torch.nn.Parameter(torch.tensor(0.5))
    calls = []

    def predict(x, i, s):
        calls.append((i, torch.is_grad_enabled()))
        return x * w * (1 - s)

    return noise, w, calls, predict


def test_chain_exit_step_keeps_the_graph_only_there():
    noise, w, calls, predict = _chain_inputs()
    sched = FewStepSchedule()
    out = fewstep_chain(predict, noise, sched, exit_step=2)
    assert [c[0] for c in calls] == [0, 1, 2]
    assert [c[1] for c in calls] == [False, False, True]
    out.sum().backward()
    assert w.grad is not None and float(w.grad) != 0.0


def test_chain_without_exit_equals_the_manual_recursion():
    noise, w, calls, predict = _chain_inputs()
    sched = FewStepSchedule()
    with torch.no_grad():
        out = fewstep_chain(predict, noise, sched)
        sig = [float(s) for s in sched.sigmas()]
        x = noise[0]
        for i, s in enumerate(sig):
            x0 = x * 0.5 * (1 - s)
            if i + 1 < len(sig):
                x = (1 - sig[i + 1]) * x0 + sig[i + 1] * noise[i + 1]
    assert torch.allclose(out, x0)
    assert len(calls) == 4
