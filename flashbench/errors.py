"""Errors a user can act on.

Every error names the input that caused it and, where there is one, the fix. The CLI prints
them without a traceback and exits with status 2.
"""


class FlashBenchError(Exception):
    """Base class for errors that carry a message meant for the user."""


class InputError(FlashBenchError):
    """A file, folder or argument given by the user is missing, malformed or inconsistent."""


class VideoError(InputError):
    """A video cannot be read, is truncated, or has the wrong frame count or shape."""


class ValidationError(InputError):
    """A benchmark directory or result file fails its integrity check."""


class MissingWeightsError(FlashBenchError):
    """An official weight file is not in the cache (the message names the fix)."""


class NotYetAvailableError(FlashBenchError):
    """A command whose implementation has not landed yet."""
