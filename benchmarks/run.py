"""Print training throughput (samples/s) for benchmark models, with PyTorch and JAX side by side.

    python -m benchmarks.run                      # list models
    python -m benchmarks.run mlp --batch 1 32 256
    python -m benchmarks.run all
    python -m benchmarks.run mlp --threads 1      # one BLAS / OpenMP thread for both libraries

Figures are medians over rounds that alternate tensornet, PyTorch and JAX
(each where installed), so all see the same machine load; the ratios are
tensornet's samples/s over the peer's. With tn-accel installed, tensornet
also runs without its fused optimizer kernels (``tn-numpy``). Where a model
has one, the last peer, ``numpy``, is the floor: the same training step
written by hand in plain NumPy, no framework (with tn-accel's fused Adam
kernel where it is importable), so ``tn/numpy`` is the share of the best
NumPy program's speed that tensornet reaches. On a machine shared with other jobs, PyTorch's
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
# tn-numpy: tensornet without tn-accel's fused optimizer kernels; numpy: the model's hand-written NumPy floor
PEERS = ("tn-numpy", "torch", "jax", "numpy")


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
    """Run every library on ``threads`` CPUs; must run before NumPy (and JAX) are imported.

    The process is pinned to ``threads`` of the CPUs it may use (Linux): XLA sizes its thread pool by that
    mask, and its flags do not cap it. Under ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``
    alone, JAX's x (256, 1024) W^T took 1.8 s of CPU time per second on two cores; pinned, 1.0. NumPy's BLAS and
    PyTorch are capped by their own settings as well.
    """
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def describe_setup() -> str:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    try:
        import torch

        torch_text = f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_text = "PyTorch not installed"
    try:
        import jax

        jax_text = f"JAX {jax.__version__}"
    except ImportError:
        jax_text = "JAX not installed"
    cpus = f"; on CPUs {sorted(os.sched_getaffinity(0))}" if hasattr(os, "sched_getaffinity") else ""
    return f"# numpy BLAS threads: {threads}{blas_kernels()}; {torch_text}; {jax_text}{cpus}"


def blas_kernels() -> str:
    """`` (OpenBLAS's Haswell kernels, OPENBLAS_CORETYPE=Haswell)``: which kernels NumPy's OpenBLAS runs, where
    threadpoolctl can tell. They decide NumPy's speed: on an AVX-512 CPU, OPENBLAS_CORETYPE=Haswell (set on some
    machines) holds it to AVX2 kernels, and x (256, 1024) W^T takes 1.6x as long as with its own choice."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    cores = [info.get("architecture") for info in threadpool_info() if info.get("internal_api") == "openblas"]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return f" (OpenBLAS's {cores[0]} kernels{f', OPENBLAS_CORETYPE={forced}' if forced else ''})" if cores else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model names, or 'all'")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per system per batch size")
    parser.add_argument("--threads", type=int, default=None, help="threads and CPUs for NumPy's BLAS, PyTorch, XLA")
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
    header = "".join(f"{peer + ' samples/s':>20}{'tn/' + peer:>12}" for peer in PEERS)
    print(f"{'model':<12}{'batch':>6}{'tn samples/s':>15}{header}")
    for name in names:
        for batch in args.batch:
            r = throughput(specs[name], batch, seconds=args.seconds)
            peers = "".join(f"{r[peer]:>20.0f}{r['tn'] / r[peer]:>12.2f}" if peer in r else f"{'-':>20}{'-':>12}"
                            for peer in PEERS)
            print(f"{name:<12}{batch:>6}{r['tn']:>15.0f}{peers}", flush=True)


if __name__ == "__main__":
    main()
