"""The submission schema (pydantic): submitter metadata and the archive's header.

Every text field is length-limited; values are untrusted and escaped wherever shown.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

SUBMISSION_FORMAT = "flashbench-submission"
SUBMISSION_VERSION = 1

Short = Field(min_length=1, max_length=120)


class SubmitterMetadata(BaseModel):
    """Who made the numbers and with what; shown as provenance beside each entry."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model_name: str = Field(min_length=1, max_length=120)
    generated_by: str = Field(min_length=1, max_length=200)
    evaluated_by: str = Field(min_length=1, max_length=200)
    code: str = Field(default="", max_length=500)  # code reference: URL and commit
    checkpoint: str = Field(default="", max_length=500)  # checkpoint reference: URL or hash
    nfe: int = Field(ge=0, le=100_000)
    hardware: str = Field(default="", max_length=200)
    denoise_latency_s: Optional[float] = Field(default=None, ge=0, le=1e7, allow_inf_nan=False)
    notes: str = Field(default="", max_length=2000)
    new_version_of: Optional[int] = Field(default=None, ge=1)  # entry id this one supersedes


class SubmissionHeader(BaseModel):
    """``submission.json``: format, metadata and the SHA-256 of every other archive member."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(pattern=f"^{SUBMISSION_FORMAT}$")
    format_version: int = Field(ge=1)
    metadata: SubmitterMetadata
    files: dict[str, str] = Field(max_length=200)  # member name -> sha256 hex
