"""Print training throughput (samples/s) for benchmark models, with PyTorch side by side.

    python -m benchmarks.run                      # list models
    python -m benchmarks.run mlp --batch 1 32 256
    python -m benchmarks.run all
    python -m benchmarks.run mlp --threads 1      # one BLAS / OpenMP thread for both libraries

Figures are medians over rounds that alternate tensornet and PyTorch, so both
see the same machine load. On a machine shared with other jobs, PyTorch's
OpenMP threads can slow it down many times over when the cores are
oversubscribed; ``--threads 1`` compares both libraries single-threaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
from typing import Any

import benchmarks

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def all_specs() -> dict[str, Any]:
    specs: dict[str, Any] = {}
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if module.name.startswith("models_"):
            try:
                loaded = importlib.import_module(f"benchmarks.{module.name}")
            except ImportError as exc:  # a plugin that is not installed
                print(f"# skipping {module.name}: {exc}")
                continue
            specs.update({spec.name: spec for spec in loaded.SPECS})
    return specs


def limit_threads(threads: int) -> None:
    """Cap NumPy's BLAS and PyTorch's thread pools; must run before NumPy is imported."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def describe_setup() -> str:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    try:
        import torch
    except ImportError:
        return f"# numpy BLAS threads: {threads}; PyTorch not installed"
    return f"# numpy BLAS threads: {threads}; PyTorch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model names, or 'all'")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per system per batch size")
    parser.add_argument("--threads", type=int, default=None, help="threads for NumPy's BLAS and PyTorch")
    args = parser.parse_args()
    if args.threads is not None:
        limit_threads(args.threads)
    from benchmarks.harness import throughput  # imports NumPy, after the thread limits are set

    specs = all_specs()
    names = list(specs) if args.models == ["all"] else args.models
    if not names:
        print("models:", ", ".join(specs))
        return
    unknown = [n for n in names if n not in specs]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; models: {', '.join(specs)}")
    print(describe_setup())
    print(f"{'model':<12}{'batch':>6}{'tn samples/s':>15}{'torch samples/s':>17}{'tn/torch':>10}")
    for name in names:
        for batch in args.batch:
            r = throughput(specs[name], batch, seconds=args.seconds)
            torch_rate = f"{r['torch']:>17.0f}" if "torch" in r else f"{'-':>17}"
            ratio = f"{r['ratio']:>10.2f}" if "ratio" in r else f"{'-':>10}"
            print(f"{name:<12}{batch:>6}{r['tn']:>15.0f}{torch_rate}{ratio}", flush=True)


if __name__ == "__main__":
    main()
