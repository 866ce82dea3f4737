"""Benchmark and load test of the live figures on PostgreSQL: see docs/performance.md."""
