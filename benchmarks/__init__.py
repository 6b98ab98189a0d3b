"""Benchmarks: one script per question (see ../shared/BENCHMARKS.md). Not tests."""
