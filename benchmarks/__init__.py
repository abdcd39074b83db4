"""Speed and learning benchmarks. Run ``python -m benchmarks.run --help``."""
