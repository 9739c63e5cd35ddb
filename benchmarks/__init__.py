"""Throughput benchmarks; each prints one JSON line of results."""
