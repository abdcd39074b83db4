"""Where a tensornet step's time goes beside the arithmetic: the fixed cost of a step, and the matrix products.

    python -m benchmarks.overhead                 # one thread for NumPy's BLAS and XLA

1. The fixed cost of a step: the seed MLP's topology (Dense tanh, Dense tanh, Dense sigmoid; Adam; ce) at
   width 4 on 4 inputs, batch 1. Its arithmetic is a few dozen numbers, so its step time is what any
   step of such a network pays on top of its arithmetic: the executor's, the layers' and the optimizer's
   Python work and the NumPy calls' own overhead.
2. The MLP's largest matrix product, x (N, 1024) W^T, in NumPy (OpenBLAS) and in JAX (XLA, jit; where
   installed), at N = 32 and 256.

Medians over rounds that alternate what is compared, so that all see the same machine load.
``python -m benchmarks.run mlp`` gives the whole step beside PyTorch, JAX and the hand-written NumPy floor;
``python -m benchmarks.instructions`` counts the instructions of this fixed cost, phase by phase.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from benchmarks.run import limit_threads


def tiny_network() -> tuple[Any, Any, Any]:
    """(System, input batch, target batch): a 4-4-4-2 network of the MLP's layers, at batch 1."""
    import numpy as np

    import tn_core as tn

    x = tn.Input((4,))()
    h = tn.Dense((4,), activation="tanh")(x)
    h = tn.Dense((4,), activation="tanh")(h)
    y = tn.Dense((2,), activation="sigmoid")(h)
    system = tn.System(inputs=[x], outputs=[y])
    return system, np.full((1, 4), 0.5, system.dtype), np.array([[0.0, 1.0]], system.dtype)


def tiny_step() -> Callable[[], None]:
    """One guess + learn of the 4-4-4-2 network with the MLP's loss (ce on sigmoid) and optimizer (Adam)."""
    system, xb, yb = tiny_network()

    def step() -> None:
        _, state = system.guess([xb], return_state=True)
        system.learn(state, [yb], method="adam", scale=1e-3, loss="ce")

    return step


def products(batch: int) -> dict[str, Callable[[], None]]:
    """x (batch, 1024) W^T with W (225, 1024) float32: NumPy, and JAX's jit where installed."""
    import numpy as np

    rng = np.random.default_rng(0)
    x, w = rng.random((batch, 1024), dtype=np.float32), rng.random((225, 1024), dtype=np.float32)
    found = {"numpy": lambda: x @ w.T}
    try:
        import jax
    except ImportError:
        return found
    product = jax.jit(lambda a, b: a @ b.T)
    jx, jw = jax.numpy.asarray(x), jax.numpy.asarray(w)
    found["jax"] = lambda: product(jx, jw).block_until_ready()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per compared thing")
    args = parser.parse_args()
    limit_threads(1)
    from benchmarks.harness import alternate  # imports NumPy, after the thread limits are set

    rate = alternate({"tiny": tiny_step()}, 1, args.seconds, args.rounds)["tiny"]
    print(f"fixed cost of a step (4-4-4-2 network, batch 1): {1e6 / rate:.0f} us")
    for batch in (32, 256):
        rates = alternate(products(batch), 1, args.seconds, args.rounds)
        times = ", ".join(f"{name} {1e6 / r:.0f} us" for name, r in rates.items())
        print(f"x ({batch}, 1024) W^T (1024, 225): {times}", flush=True)


if __name__ == "__main__":
    main()
