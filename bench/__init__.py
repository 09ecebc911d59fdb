"""tidings' benchmark suite: `python bench/run.py` (or `make bench`) writes docs/benchmarks.md.

Every `bench/bench_*.py` module exposes `run(quick: bool = False) -> str`, a markdown
section; the harness runs each in its own subprocess. See docs/benchmarking.md.
"""
