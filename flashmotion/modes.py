"""Train/eval mode for the length of a call, restored afterwards.

Components handed to a pipeline may be trained elsewhere (a trainer passes its trainable model
for sample previews), so inference switches dropout off only while it runs and then gives every
submodule back the mode it had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module.eval()`` inside the block; each submodule's own ``training`` flag restored on exit."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training
