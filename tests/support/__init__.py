"""Helpers of the tests, one home each; the benchmarks (bench/) use them too.

`polling`, `spawning`, `rabbitmq`, `databases` and `stats` need neither pytest nor Django, so
bench/ imports them from here; the other modules are for tests only.
"""
