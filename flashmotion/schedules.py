"""Noise schedules of the flow-matching samplers.

Flow matching: ``x_t = (1 - s) x0 + s eps``, the network predicts ``v = eps - x0`` and takes
the timestep ``1000 s``. Both samplers apply Wan's shift ``s' = k s / (1 + (k - 1) s)``.

* Multi-step: ``steps + 1`` sigmas ``shift(linspace(1, 0, steps + 1))`` (the last one is 0).
* Few-step: ONE explicit :class:`FewStepSchedule`, used identically by training and
  inference. Its ``timesteps`` are given on the *unshifted* 0..1000 scale; sigma ``i`` is
  ``shift(timesteps[i] / 1000)`` and the network sees ``1000 * sigma_i``. With the defaults
  ``[1000, 750, 500, 250]`` and shift 5 the sigmas are ``[1, 0.9375, 0.8333, 0.625]``
  (network timesteps ``[1000, 937.5, 833.3, 625]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def add_noise(x0: Tensor, noise: Tensor, sigma: Tensor | float) -> Tensor:
    """``x_t = (1 - s) x0 + s eps`` (``sigma`` broadcast over the batch)."""
    if isinstance(sigma, float):  # one fused kernel (the samplers' per-step path)
        return torch.lerp(x0, noise, sigma)
    return (1 - sigma) * x0 + sigma * noise


def flow_target(x0: Tensor, noise: Tensor) -> Tensor:
    """What the network learns to predict: ``v = eps - x0``."""
    return noise - x0


def x0_from_flow(x_t: Tensor, v: Tensor, sigma: Tensor | float) -> Tensor:
    """The clean estimate implied by a flow prediction: ``x0 = x_t - s v``."""
    if isinstance(sigma, float):  # one fused kernel
        return torch.add(x_t, v, alpha=-sigma)
    return x_t - sigma * v


def shift_sigma(sigma: Tensor | float, shift: float) -> Tensor | float:
    return shift * sigma / (1 + (shift - 1) * sigma)


def multistep_sigmas(steps: int, shift: float) -> Tensor:
    """``steps + 1`` decreasing sigmas from 1 to 0 (float64)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_sigma(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


# The one few-step timestep list (REFERENCE section 4) and its shift; the model configs and
# DEFAULT_FEW_STEP both take them from here.
FEW_STEP_TIMESTEPS: tuple[float, ...] = (1000.0, 750.0, 500.0, 250.0)
FEW_STEP_SHIFT = 5.0


@dataclass(frozen=True)
class FewStepSchedule:
    """The few-step chain: one network call per entry of ``timesteps`` (unshifted, 0..1000]."""

    timesteps: tuple[float, ...] = FEW_STEP_TIMESTEPS
    shift: float = FEW_STEP_SHIFT

    def __post_init__(self) -> None:
        ts = tuple(float(t) for t in self.timesteps)
        if not ts or any(not 0 < t <= 1000 for t in ts) or any(a <= b for a, b in zip(ts, ts[1:])):
            raise ValueError(f"few-step timesteps must be strictly decreasing in (0, 1000], got {self.timesteps}")
        object.__setattr__(self, "timesteps", ts)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def sigmas(self) -> Tensor:
        """Noise level of each step (float64)."""
        return shift_sigma(torch.tensor(self.timesteps, dtype=torch.float64) / 1000.0, self.shift)

    def model_timesteps(self) -> Tensor:
        """The timestep the network sees at each step (``1000 * sigma``)."""
        return self.sigmas() * 1000.0

    def noised(self, x0: Tensor, noise: Tensor, i: int) -> tuple[Tensor, float]:
        """``(x_t, network timestep)`` of step ``i``: the input a trainer gives the generator
        at that step, and the state the sampler's chain re-noises to (same sigmas)."""
        s = float(self.sigmas()[i])
        return add_noise(x0, noise, s), 1000.0 * s

    @classmethod
    def parse(cls, text: str, shift: float = 5.0) -> "FewStepSchedule":
        """From a CLI string like ``"1000,750,500,250"``."""
        return cls(tuple(float(t) for t in text.replace(" ", "").split(",") if t), shift)


DEFAULT_FEW_STEP = FewStepSchedule()
