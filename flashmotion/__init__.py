"""FlashMotion: few-step trajectory-controllable image-to-video generation on Wan2.2-TI2V.

Modules: ``configs`` (real and tiny sizes), ``transformer`` (backbone with block residuals),
``adapters`` (ControlNet, ResNet), ``model`` (backbone + adapter), ``vae``, ``text``,
``schedules`` and ``samplers`` (multi-step CFG, few-step chain), ``pipeline`` (one video),
``keymaps``/``loading``/``weights``/``assemble`` (weights), ``precision`` (low-precision casting),
``modes`` (eval mode for one call), ``generators`` (registered aliases).
"""

__version__ = "0.1.0"
