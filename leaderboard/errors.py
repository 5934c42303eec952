"""Why a submission was refused: one class, one short code per check, one clear message."""

from __future__ import annotations

from flashbench.errors import InputError


class SubmissionRejected(InputError):
    """A submission failed a check; nothing was stored.

    ``code`` names the check (``malformed-json``, ``protocol``, ``aggregate`` ...) so that the
    server can answer with it and tests can tell the checks apart.
    """

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(f"submission rejected ({code}): {message}")
        self.code = code
        self.detail = message
        self.status = status
