"""Reproducible latency and throughput measurements of auvid (``python -m benchmarks``)."""
