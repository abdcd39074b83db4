"""tn-accel's fused optimizer kernels: the optimizer's share of a training step, and numba's compile time.

    python -m benchmarks.accel                    # the seed MLP (Adam): step and optimizer time, one thread
    python -m benchmarks.accel --batch 1 32 256 --rounds 9
    python -m benchmarks.accel --compile          # the first step: cold (empty numba cache), warm, no tn-accel
    python -m benchmarks.accel --forms            # the step with tn-accel's kernels against their other forms

Step and optimizer times are medians over rounds that alternate the kernel and the
NumPy path (a subclass of the optimizer that changes nothing: kernels serve their
exact class only), so both see the same machine load. The compile figures come from
fresh processes: one with an empty NUMBA_CACHE_DIR, one reusing it, one without tn-accel.
``--forms`` alternates, in one process, the MLP's step with tn-accel's kernels, with Adam's kernel in the
form it replaced (the new values written aside, then copied into the parameters, where the kernel now
updates them in place with their old values aside), and without the outer-product kernel (the core's BLAS
product, at batch 1): ratios over tn-accel's time, above 1 where tn-accel's kernels are faster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from typing import Any

from benchmarks.run import limit_threads

FIRST_STEP = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import numpy as np
    from benchmarks.models_dense import mlp_tn
    system, loss, optimizer = mlp_tn()
    x, y = np.zeros((1, 32, 32), np.float32), np.eye(26, dtype=np.float32)[[0]]
    t1 = time.perf_counter()
    times = []
    for _ in range(2):
        t = time.perf_counter()
        system.fit(x, y, epochs=1, batch_size=1, optimizer=optimizer, loss=loss, verbose=0)
        times.append(time.perf_counter() - t)
    print(f"{t1 - t0:.3f} {times[0]:.3f} {times[1]:.3f}")
""")


def first_steps() -> None:
    """The first training step of the MLP in fresh processes: cold cache, warm cache, and without tn-accel."""
    with tempfile.TemporaryDirectory() as cache:
        runs = [("cold: empty numba cache", {"NUMBA_CACHE_DIR": cache}),
                ("warm: cached machine code", {"NUMBA_CACHE_DIR": cache}),
                ("without tn-accel", {"TN_DISABLE_PLUGINS": "accel"})]
        print(f"{'process':<28}{'import+build s':>15}{'first step s':>14}{'second step s':>15}")
        for label, env in runs:
            out = subprocess.run([sys.executable, "-c", FIRST_STEP], env={**os.environ, **env}, check=True,
                                 capture_output=True, text=True).stdout.split()
            print(f"{label:<28}{out[0]:>15}{out[1]:>14}{out[2]:>15}", flush=True)


def step_and_update(spec: Any, x: Any, y: Any, fused: bool) -> tuple[Callable[[], None], Callable[[], None]]:
    """A training step of a fresh ``spec`` model, and its optimizer's update alone (with one step's gradients);
    ``fused=False``: the NumPy path."""
    from benchmarks.harness import numpy_path_optimizer

    system, loss, optimizer = spec.build_tn()
    method = optimizer if fused else numpy_path_optimizer(optimizer)

    def step() -> None:
        _, state = system.guess([x], return_state=True)
        system.learn(state, [y], method=method, scale=spec.lr, loss=loss)

    step()
    import numpy as np

    from tn_core.packed import Packed, span

    pgrads, _ = system.gradients([x], [y], loss=loss)
    arrays = [array for _, _, array in system.parameters()]
    shapes = [array.shape for array in arrays]
    params = Packed(span(arrays), shapes)  # as System.apply_gradients hands them: packed in one buffer
    grads = Packed(np.concatenate([pgrads[system[layer]][key].ravel() for layer, key, _ in system.parameters()]),
                   shapes)
    return step, lambda: system.optimizer.step(params, grads)


def shares(batches: list[int], seconds: float, rounds: int) -> None:
    """Step time and optimizer time, kernel and NumPy, of the seed MLP at each batch size."""
    import numpy as np

    from benchmarks.harness import alternate, numpy_path_optimizer, random_batch
    from benchmarks.models_dense import SPECS

    spec = next(s for s in SPECS if s.name == "mlp")
    if numpy_path_optimizer("adam") is None:
        sys.exit("no fused kernel for adam: install tn-accel (and numba)")
    print(f"{'batch':>5}{'step us':>10}{'numpy':>9}{'optimizer us':>14}{'numpy':>9}{'share':>7}{'numpy':>7}"
          f"{'step speed-up':>15}")
    for batch in batches:
        x, y = random_batch(spec, batch, np.random.default_rng(0))
        fused, numpy = step_and_update(spec, x, y, True), step_and_update(spec, x, y, False)
        steps = alternate({"fused": fused[0], "numpy": numpy[0]}, batch, seconds, rounds)  # samples/s
        updates = alternate({"fused": fused[1], "numpy": numpy[1]}, 1, seconds, rounds)  # updates/s
        us = {name: 1e6 * batch / rate for name, rate in steps.items()}
        opt_us = {name: 1e6 / rate for name, rate in updates.items()}
        print(f"{batch:>5}{us['fused']:>10.0f}{us['numpy']:>9.0f}{opt_us['fused']:>14.0f}{opt_us['numpy']:>9.0f}"
              f"{opt_us['fused'] / us['fused']:>7.0%}{opt_us['numpy'] / us['numpy']:>7.0%}"
              f"{us['numpy'] / us['fused']:>14.2f}x", flush=True)


def adam_aside() -> Callable[..., bool]:
    """tn-accel's Adam kernel in the form it had before it worked in place: new values into ``new_p``, which
    the optimizer then copies into ``p``. Only to measure the change; Adam without weight decay."""
    import math

    import numba
    import numpy as np

    @numba.njit(nogil=True, error_model="numpy")
    def loop(p, g, m, v, new_p, new_m, new_v, h):  # type: ignore[no-untyped-def]
        ok = True
        for k in range(p.size):
            mk = (g[k] - m[k]) * h[0] + m[k]
            vk = (g[k] * g[k] - v[k]) * h[1] + v[k]
            pk = p[k] - mk / (np.sqrt(vk) + h[2]) * h[3]
            new_p[k], new_m[k], new_v[k] = pk, mk, vk
            ok &= math.isfinite(pk) & math.isfinite(mk) & math.isfinite(vk)
        return ok

    def kernel(opt: Any, p: Any, g: Any, state: list, new_p: Any, new_state: list) -> bool:
        c = math.sqrt(1.0 - opt.beta2**opt.steps)
        h = np.array([1.0 - opt.beta1, 1.0 - opt.beta2, opt.eps * c, opt.lr * c / (1.0 - opt.beta1**opt.steps)],
                     p.dtype)
        return loop(p.reshape(-1), g.reshape(-1), *(a.reshape(-1) for a in (*state, new_p, *new_state)), h)

    return kernel


def kernel_forms(batches: list[int], rounds: int) -> None:
    """The MLP's step time with tn-accel's kernels, with Adam's kernel aside, and without the outer kernel,
    alternating in one process."""
    import statistics
    import timeit

    import numpy as np

    import tn_core as tn
    from benchmarks.harness import random_batch, tn_stepper
    from benchmarks.models_dense import SPECS
    from tn_core.plugins import get_plugins

    spec = next(s for s in SPECS if s.name == "mlp")
    optimizer_kernels, array_kernels = get_plugins().optimizer_kernels(), get_plugins().array_kernels()
    if tn.Adam not in optimizer_kernels or "outer" not in array_kernels:
        sys.exit("no fused kernel for adam or outer: install tn-accel (and numba)")
    adam, outer = optimizer_kernels[tn.Adam], array_kernels["outer"]
    forms = {"tn-accel": (adam, outer), "Adam aside": ((adam[0], adam_aside()), outer), "no outer": (adam, None)}
    print(f"{'batch':>5}{'tn-accel us':>13}" + "".join(f"{name + ' us':>15}{'ratio':>7}" for name in list(forms)[1:]))
    try:
        for batch in batches:
            x, y = random_batch(spec, batch, np.random.default_rng(0))
            step, number = tn_stepper(spec, x, y), max(3, 4000 // (batch + 20))
            times: dict[str, list[float]] = {name: [] for name in forms}
            for _ in range(rounds):
                for name, (adam_kernel, outer_kernel) in forms.items():
                    optimizer_kernels[tn.Adam] = adam_kernel
                    array_kernels.pop("outer", None)
                    if outer_kernel is not None:
                        array_kernels["outer"] = outer_kernel
                    step()  # the first step with a kernel plans it
                    times[name].append(min(timeit.repeat(step, number=number, repeat=3)) / number * 1e6)
            line = f"{batch:>5}{statistics.median(times['tn-accel']):>13.0f}"
            for name in list(forms)[1:]:  # the median over rounds of each round's ratio to tn-accel's time
                ratio = statistics.median(a / b for a, b in zip(times[name], times["tn-accel"]))
                line += f"{statistics.median(times[name]):>15.0f}{ratio:>7.3f}"
            print(line, flush=True)
    finally:
        optimizer_kernels[tn.Adam], array_kernels["outer"] = adam, outer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per path per batch size")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="time the first step in fresh processes instead")
    parser.add_argument("--forms", action="store_true", help="tn-accel's kernels against their other forms")
    args = parser.parse_args()
    limit_threads(1)
    if args.compile:
        first_steps()
    elif args.forms:
        kernel_forms(args.batch, args.rounds)
    else:
        shares(args.batch, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
