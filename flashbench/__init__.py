"""FlashBench: the benchmark and evaluation toolkit for trajectory-controllable video generation."""

__version__ = "0.1.0"
