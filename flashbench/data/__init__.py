"""Benchmark data: schema, video and mask I/O, sources, builder, trajectory conditions."""
