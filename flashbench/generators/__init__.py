"""The generator protocol: the one seam every model passes through."""

from .base import GeneratedVideo, GenerationRequest, Generator, GeneratorInfo
from .registry import available, load_generator

__all__ = ["GeneratedVideo", "GenerationRequest", "Generator", "GeneratorInfo", "available", "load_generator"]
