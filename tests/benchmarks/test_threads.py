"""benchmarks.run.limit_threads: every library, JAX's XLA included, runs on the CPUs it allows."""

from __future__ import annotations

import os
import pathlib
import platform
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")


def limited(threads: int, code: str, **env_vars: str | None) -> str:
    """What ``code`` prints in a fresh process after ``limit_threads(threads)``, with ``env_vars`` set (None:
    unset)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **env_vars}
    env = {key: value for key, value in env.items() if value is not None}
    script = f"from benchmarks.run import limit_threads\nlimit_threads({threads})\n{code}"
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True).stdout


def test_the_process_is_pinned_to_as_many_cpus_as_threads() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    out = limited(1, "import os; print(sorted(os.sched_getaffinity(0)), os.environ['OPENBLAS_NUM_THREADS'])")
    assert out == f"{allowed[:1]} 1\n"
    out = limited(len(allowed) + 4, "import os; print(sorted(os.sched_getaffinity(0)))")  # more than there are: all
    assert out == f"{allowed}\n"


def test_the_setup_line_names_the_cpus() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    out = limited(1, "from benchmarks.run import describe_setup; print(describe_setup())")
    assert out.startswith("# numpy BLAS threads: 1") and out.endswith(f"; on CPUs {allowed[:1]}\n"), out


@pytest.mark.skipif(platform.machine() != "x86_64", reason="OpenBLAS's x86-64 kernel names")
def test_the_setup_line_names_the_kernels_of_numpy_s_blas() -> None:
    pytest.importorskip("threadpoolctl")
    code = "import numpy\nfrom benchmarks.run import describe_setup\nprint(describe_setup())"
    out = limited(1, code, OPENBLAS_CORETYPE="Haswell")
    assert out.startswith("# numpy BLAS threads: 1 (OpenBLAS's Haswell kernels, OPENBLAS_CORETYPE=Haswell);"), out
    out = limited(1, code, OPENBLAS_CORETYPE=None)
    assert re.match(r"# numpy BLAS threads: 1 \(OpenBLAS's \w+ kernels\);", out), out  # its own choice


def test_jax_computes_on_one_cpu() -> None:
    """XLA ignores its thread flags but not the CPU mask: CPU time no more than wall time (1.8x unpinned on
    two cores)."""
    pytest.importorskip("jax")
    code = """import time
import jax, jax.numpy as jnp
x = jnp.ones((512, 1024)); w = jnp.ones((512, 1024))
f = jax.jit(lambda a, b: a @ b.T)
f(x, w).block_until_ready()
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(50):
    f(x, w).block_until_ready()
print((time.process_time() - cpu) / (time.perf_counter() - wall))"""
    assert float(limited(1, code)) < 1.2
