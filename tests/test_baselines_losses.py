"""The baselines' own objectives on toy problems with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.losses import lcm_target, ode_step, pseudo_huber_loss


def test_pseudo_huber_known_values():
    c = 4.0
    pred, target = torch.full((1, 1, 2, 1, 1), 3.0), torch.zeros((1, 1, 2, 1, 1))
    pred[:, :, 0] = 100.0  # frame 0 is the pasted first frame: no loss there
    assert float(pseudo_huber_loss(pred, target, c)) == pytest.approx(1.0)  # sqrt(9 + 16) - 4
    small = torch.tensor([1e-3])
    assert float(pseudo_huber_loss(small, torch.zeros(1), 1.0)) == pytest.approx(0.5e-6, rel=1e-3)  # d^2 / 2c
    big = torch.tensor([1e4])
    assert float(pseudo_huber_loss(big, torch.zeros(1), 1e-3)) == pytest.approx(1e4, rel=1e-6)  # |d| - c


def test_ode_step_is_exact_on_a_point_mass():
    """All data at x*: the exact x0 estimate is x*, the flow path is straight, Euler is exact."""
    g = torch.Generator().manual_seed(0)
    x_star, eps = torch.randn(8, generator=g), torch.randn(8, generator=g)
    s, s_next = 0.8, 0.3
    x_t = (1 - s) * x_star + s * eps
    torch.testing.assert_close(ode_step(x_t, x_star, s, s_next), (1 - s_next) * x_star + s_next * eps)
    torch.testing.assert_close(ode_step(x_t, x_star, s, 0.0), x_star)


def _std(s):  # std of x_s = (1 - s) x0 + s eps for x0, eps ~ N(0, 1)
    return math.sqrt((1 - s) ** 2 + s**2)


def test_lcm_target_on_a_linear_gaussian_toy():
    """Data N(0, 1): the teacher's exact x0 estimate is E[x0 | x_s] = (1 - s) x / std(s)^2 (linear),
    and the true consistency function (the probability-flow ODE's end point) is f(x, s) = x / std(s).
    The LCM target of f after one teacher step converges to f(x_t, s_hi) as the step shrinks
    (local error O(h^2)), so f is the fixed point of the loss; the posterior mean is not."""
    teacher = lambda x, s: (1 - s) * x / _std(s) ** 2
    f = lambda x, s: x / _std(s)
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    s_hi = 0.6
    errs = []
    for h in (0.1, 0.05, 0.025):
        y = lcm_target(x, s_hi, s_hi - h, teacher, f)
        # one Euler step in closed form: x_lo = x (a + (s_lo / s_hi) (1 - a)), a = (1 - s_hi) / std^2
        a = (1 - s_hi) / _std(s_hi) ** 2
        torch.testing.assert_close(y, x * (a + (s_hi - h) / s_hi * (1 - a)) / _std(s_hi - h))
        errs.append(float((y - f(x, s_hi)).abs().max()))
    # one Euler step has a second-order local error: halving the step quarters it
    assert errs[0] > errs[1] > errs[2] and errs[1] / errs[2] == pytest.approx(4.0, rel=0.1)
    # boundary: after the last level the target is the ODE end point itself (no target network call)
    y0 = lcm_target(x, s_hi, 0.0, teacher, lambda *_: pytest.fail("the target network is not called at s = 0"))
    torch.testing.assert_close(y0, teacher(x, s_hi))
    # the posterior mean (the teacher) is no consistency function: its target differs from itself
    y_pm = lcm_target(x, s_hi, s_hi - 0.025, teacher, teacher)
    assert float(pseudo_huber_loss(teacher(x, s_hi), y_pm, 1e-3)) > 10 * float(
        pseudo_huber_loss(f(x, s_hi), lcm_target(x, s_hi, s_hi - 0.025, teacher, f), 1e-3))
