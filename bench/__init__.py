"""The benchmark suite: the service measured side by side with what a user would otherwise run.

Run it with `make bench` or `python -m bench.run [--only NAME ...] [--quick]`; see docs/BENCHMARKS.md.
Nothing here is imported by the service or the tests' product code.
"""
