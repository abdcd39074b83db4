"""Which part of tensornet's MLP step is the framework's Python: tensornet, its replica, the floor and JAX.

    python -m benchmarks.replica --batch 1 32 256     # one thread for NumPy's BLAS

The replica (``MLPReplica``) makes the NumPy calls tensornet's MLP step makes, in tensornet's way, and
nothing else: the inputs' and targets' finiteness checks, out-of-place layers keeping z and a for backward,
the loss on the logits as ``tn_core.losses.BinaryCE`` computes it with its target range check, the gradients
of W and b written into one packed buffer, and tn-accel's Adam kernel updating the parameters in place with
their old values aside. It has no executor, no checks of layer results, no hooks and no protocol calls. So:

- tensornet / replica (time per step) is the cost of the framework's Python;
- replica / floor is the cost of tensornet's choice of NumPy operations against the hand-written floor
  (``benchmarks.models_dense.MLPFloor``: in-place activations, no checks, buffers swapped, not copied);
- JAX / replica (time per step; where JAX is installed) is what tn/JAX, in samples/s, would be with no
  framework cost at all: the most that work on tensornet's executor alone can reach;
- JAX / overwriting floor is the most that any NumPy step on this machine reaches: the floor with Adam
  overwriting p, m and v as JAX's step does (``MLPFloor(keep_old=False)``), nothing kept to undo a
  non-finite update.

tests/benchmarks/test_replica.py checks that the replica computes tensornet's losses and parameters bit for
bit.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from benchmarks.run import limit_threads


class MLPReplica:
    """tensornet's training step of the ``mlp`` System ``system`` as bare NumPy calls, on its own copy of the
    parameters (tensornet's packed layout and values at construction) and Adam state; calling it runs one
    step on ``x``, ``y`` and returns the loss before the update."""

    def __init__(self, system: Any, x: Any, y: Any, lr: float = 1e-3) -> None:
        import numpy as np
        from tn_accel.kernels import adam

        import tn_core as tn
        from tn_core.packed import Packed

        arrays = [array for _, _, array in system.parameters()]  # per layer: biases, then weights
        self.params = Packed(np.concatenate([a.reshape(-1) for a in arrays]), [a.shape for a in arrays])
        self.grads = Packed(np.zeros_like(self.params.flat), self.params.shapes)
        self.state = [np.zeros_like(self.params.flat) for _ in range(4)]  # m, v, and the next step's m, v
        self.old_params = np.empty_like(self.params.flat)
        self.kernel, self.x, self.y = adam, x, y
        self.optimizer = tn.Adam(lr=lr)  # its hyperparameters and step count, for the kernel's scalars

    def __call__(self) -> float:
        import numpy as np
        from scipy.special import expit

        from tn_core.neuron import outer

        xs = np.asarray(self.x, dtype=np.float32)
        ts = np.asarray(self.y, dtype=np.float32)
        for array in (xs, ts):  # as_typed's check of what a System is fed
            if not np.logical_and.reduce(np.isfinite(array), axis=None):
                raise ValueError("non-finite batch")
        n = len(xs)
        layers = list(zip(self.params[1::2], self.params[::2]))  # (weights, biases)
        inputs, zs, a = [], [], xs.reshape(n, -1)
        for k, (w, b) in enumerate(layers):  # forward: z = a W^T + b, a = tanh z (sigmoid last)
            inputs.append(a)
            z = a @ w.T
            z += b
            zs.append(z)
            a = np.tanh(z) if k + 1 < len(layers) else expit(z)
        low = float(np.minimum.reduce(ts, axis=None, initial=0.0))  # BinaryCE's target range check
        high = float(np.maximum.reduce(ts, axis=None, initial=1.0))
        if not (0.0 <= low and high <= 1.0):
            raise ValueError("targets outside [0, 1]")
        z = zs[-1]  # the loss on the logits: sum [log(1 + e^-|z|) + relu(z) - t z] / n, dE/dz = (sigmoid(z) - t) / n
        terms = np.abs(z)
        np.negative(terms, out=terms)
        np.exp(terms, out=terms)
        np.log1p(terms, out=terms)
        terms += np.maximum(z, 0)
        terms -= ts * z
        g = expit(z)
        g -= ts
        g /= n
        loss = float(np.add.reduce(terms, axis=None)) / n
        for k in reversed(range(len(layers))):  # backward: dW = g^T a, db = sum_n g, g = g W (1 - a^2)
            (w, _), dw, db = layers[k], self.grads[2 * k + 1], self.grads[2 * k]
            if n == 1:
                outer(g[0], inputs[k][0], dw)
            else:
                np.matmul(g.T, inputs[k], out=dw)
            np.add.reduce(g, axis=0, out=db)
            if k:
                g = (g @ w) * (1.0 - inputs[k] * inputs[k])
        self.adam()
        return loss

    def adam(self) -> None:
        """tn-accel's Adam kernel as tensornet calls it: the parameters in place, their old values aside."""
        self.optimizer.steps += 1
        m, v, new_m, new_v = self.state
        if not self.kernel(self.optimizer, self.params.flat, self.grads.flat, [m, v], self.old_params, [new_m, new_v]):
            raise FloatingPointError("non-finite update")
        self.state = [new_m, new_v, m, v]

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per system and batch size")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("tn_accel") is None:
        sys.exit("benchmarks.replica replays tensornet's step with tn-accel's Adam kernel: install tn-accel")
    limit_threads(args.threads)
    import numpy as np

    from benchmarks.harness import alternate, jax_stepper, random_batch, tn_stepper
    from benchmarks.models_dense import MLPFloor
    from benchmarks.run import all_specs

    spec = all_specs()["mlp"]
    print("batch   tn us/step   replica us/step   floor us/step   overwriting floor us/step   JAX us/step   "
          "tn/replica   replica/floor   JAX/replica   JAX/overwriting floor")
    for batch in args.batch:
        x, y = random_batch(spec, batch, np.random.default_rng(0))
        system, _, _ = spec.build_tn()
        steppers = {"tn": tn_stepper(spec, x, y), "replica": MLPReplica(system, x, y, spec.lr),
                    "floor": MLPFloor(x, y, fused=True), "overwriting": MLPFloor(x, y, fused=True, keep_old=False),
                    "jax": jax_stepper(spec, x, y)}
        rates = alternate({k: v for k, v in steppers.items() if v is not None}, batch, args.seconds, args.rounds)
        us = {name: batch / rate * 1e6 for name, rate in rates.items()}
        jax = ((f"{us['jax']:13.0f}", f"{us['jax'] / us['replica']:13.2f}", f"{us['jax'] / us['overwriting']:23.2f}")
               if "jax" in us else (f"{'-':>13}", f"{'-':>13}", f"{'-':>23}"))
        print(f"{batch:5d} {us['tn']:12.0f} {us['replica']:17.0f} {us['floor']:15.0f} {us['overwriting']:27.0f} "
              f"{jax[0]} {us['tn'] / us['replica']:12.2f} {us['replica'] / us['floor']:15.2f} {jax[1]} {jax[2]}")


if __name__ == "__main__":
    main()
