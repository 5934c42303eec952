"""Adapter-distillation baselines of FlashMotion: DMD, GAN and LCM.

Each baseline distils the teacher (SlowAdapter on the SlowGenerator, stage 1 output) into a
student (an adapter initialised from the SlowAdapter, on the frozen FastGenerator of stage 2);
only the adapter trains, plus a fake score (DMD) or discriminator heads (GAN). The trainers
reuse the stage runners' data, rollout, checkpoint, resume, logging and distributed code
(:mod:`flashmotion.training`).

Modules: ``losses`` (pseudo-Huber, the LCM ODE step), ``train`` (one trainer per method,
``flashbench train baseline``), ``generators`` (the registered ``dmd-*``, ``gan-*``, ``lcm-*``).
"""

METHODS = ("dmd", "gan", "lcm")
ADAPTERS = ("resnet", "controlnet")
