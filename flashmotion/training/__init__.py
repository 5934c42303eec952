"""Training of FlashMotion models: the stage runners and the recipes that chain them.

* ``stage0`` (tiny configs only): the tiny Wan2.2 VAE, then the TI2V base generator with flow
  matching; the stand-in for the pretrained SlowGenerator that cannot be downloaded here.
* ``stage1``: the SlowAdapter (ControlNet or ResNet) on the frozen SlowGenerator, dense masks
  then boxes.
* ``stage2``: DMD distillation of the SlowGenerator into the few-step FastGenerator.
* ``stage3``: the FastAdapter: the SlowAdapter fine-tuned on the FastGenerator with a diffusion
  loss plus an adversarial loss from the attention discriminator.

Modules: ``config`` (YAML configs, strict validation), ``data`` (cached latents, deterministic
batches), ``losses`` (flow matching, DMD, GAN, lambda schedules), ``discriminator``,
``state`` (resumable checkpoints), ``loop`` (the runner shared by every stage), ``stages``
(one step function per stage), ``recipe`` (the tiny reference models).
"""
