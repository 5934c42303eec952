"""The objectives the baselines add to :mod:`flashmotion.training.losses` (each checked on a toy
problem in tests): LCM's pseudo-Huber distance and its teacher ODE step."""

from __future__ import annotations

from torch import Tensor


def pseudo_huber_loss(pred: Tensor, target: Tensor, c: float) -> Tensor:
    """``mean(sqrt((pred - target)^2 + c^2) - c)`` over the later frames (frame 0 is the pasted
    first frame): quadratic for differences well below ``c``, linear above it."""
    d = pred.float() - target.float()
    if d.ndim == 5:
        d = d[:, :, 1:]
    d2 = d.pow(2)
    return (d2 / ((d2 + c * c).sqrt() + c)).mean()  # = sqrt(d^2 + c^2) - c, without the cancellation


def ode_step(x_t: Tensor, x0_pred: Tensor, sigma: Tensor | float, sigma_next: Tensor | float) -> Tensor:
    """One Euler step of the flow ODE from ``sigma`` to ``sigma_next`` written through the clean
    estimate: with ``v = (x_t - x0) / sigma``, ``x_next = x_t + (sigma_next - sigma) v
    = x0 + (sigma_next / sigma) (x_t - x0)``. Exact on a straight path (a point-mass data set)."""
    return x0_pred + (sigma_next / sigma) * (x_t - x0_pred)


def lcm_target(x_t: Tensor, sigma: float, sigma_next: float, teacher_x0, target_x0) -> Tensor:
    """The consistency target of ``x_t`` at ``sigma``: one teacher ODE step to ``sigma_next``, then
    the target network's x0 there (``target_x0(x, s)``, stop-grad or EMA), or the step's end point
    itself when ``sigma_next = 0`` (the boundary condition ``f(x, 0) = x``)."""
    x_next = ode_step(x_t, teacher_x0(x_t, sigma), sigma, sigma_next)
    return target_x0(x_next, sigma_next) if sigma_next > 0 else x_next
