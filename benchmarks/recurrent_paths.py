"""The recurrent layers' fast path beside their reference, and what each choice of the fast path buys.

    python -m benchmarks.recurrent_paths                   # RNN, LSTM, GRU of 20 units, 32 steps of 32 features
    python -m benchmarks.recurrent_paths --batch 32 256 --size 20 --rounds 7

Samples/s of one forward and backward pass in float32, one BLAS thread
(medians over rounds alternating the paths, benchmarks.harness.alternate):

- reference: the cells' ``step`` / ``step_backward`` looped over time, as
  written in tn_layers_recurrent.recurrent;
- fast: ``forward`` / ``backward`` as the layers run them;
- fast, fresh arrays: the same with every work array from ``np.empty``
  instead of ``kit.reusable_empty``'s reuse (large fresh arrays cost page faults).

Then one LSTM step's elementwise work, in microseconds per call: on the
gates as interleaved column blocks of (N, 4 * size) (the reference's
``np.split``) against gate-major contiguous (4, N, size) blocks; and the four
gate activations as the fast path computes them (one tanh call over every
gate, the sigmoid gates' rows halved up front: 0.5 + 0.5 tanh(z / 2))
against scipy's expit, or 1 / (1 + exp(-z)), on f, i, o and tanh on g.

Measured with the defaults on the 2-core development machine under load
(so only the ratios mean much): the fast path ran at 1.5-3x the reference's
samples/s; buffer reuse bought 1.6-1.7x at batch 256 and nothing at 1 and 32;
gate-major blocks made one LSTM step's elementwise work 2-3x faster than
interleaved columns at batch 1 and 32, and no faster at 256; one tanh over
every gate equalled expit + tanh at batch 1 and beat it 1.3-1.9x at 32 and 256.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.run import limit_threads


@contextlib.contextmanager
def fresh_arrays() -> Iterator[None]:
    """``kit.reusable_empty`` allocating every time, as it does where CPython's reference counts are unavailable."""
    from tn_core import work_arrays

    saved, work_arrays.FREE = work_arrays.FREE, None
    try:
        yield
    finally:
        work_arrays.FREE = saved


def passes(layer: Any, x: Any) -> dict[str, Callable[[], None]]:
    """One forward and backward pass of ``layer`` on ``x`` by each path."""
    import numpy as np

    _, params = layer.build_checked([x.shape[1:]], np.random.default_rng(0))
    params = {key: value.astype(x.dtype) for key, value in params.items()}
    outs, _ = layer.forward(params, [x], True)
    grads = [np.ones_like(o) for o in outs]

    def reference() -> None:
        _, cache = layer.reference_forward(params, [x])
        layer.reference_backward(params, cache, grads)

    def fast() -> None:
        _, cache = layer.forward(params, [x], True)
        layer.backward(params, cache, grads)

    def fresh() -> None:
        with fresh_arrays():
            fast()

    return {"reference": reference, "fast": fast, "fast, fresh arrays": fresh}


def layers(batches: list[int], size: int, steps: int, features: int, seconds: float, rounds: int) -> None:
    import numpy as np

    import tn_core as tn
    from benchmarks.harness import alternate

    print(f"{'layer':<6}{'batch':>6}{'reference':>12}{'fast':>12}{'fresh arrays':>14}{'fast/reference':>16}"
          f"{'reuse gain':>12}   (samples/s)")
    for name in ("RNN", "LSTM", "GRU"):
        for batch in batches:
            x = np.random.default_rng(0).normal(size=(batch, steps, features)).astype(np.float32)
            rates = alternate(passes(getattr(tn, name)(size), x), batch, seconds, rounds)
            ref, fast, fresh = rates["reference"], rates["fast"], rates["fast, fresh arrays"]
            print(f"{name:<6}{batch:>6}{ref:>12.0f}{fast:>12.0f}{fresh:>14.0f}{fast / ref:>15.1f}x"
                  f"{fast / fresh:>11.2f}x", flush=True)


def elementwise_calls(batch: int, size: int) -> dict[str, Callable[[], Any]]:
    """One LSTM step's elementwise work on gates as column blocks and gate-major; sigmoids over the gates."""
    import numpy as np
    from scipy.special import expit

    def cell(f: Any, i: Any, g: Any, o: Any, c: Any) -> Any:
        """The LSTM's elementwise step on gate pre-activations (tanh for all, as on halved sigmoid rows)."""
        return np.tanh(o) * np.tanh(np.tanh(f) * c + np.tanh(i) * np.tanh(g))

    columns = np.random.default_rng(0).normal(size=(batch, 4 * size)).astype(np.float32)  # [f | i | g | o]
    blocks = np.ascontiguousarray(np.stack(np.split(columns, 4, axis=1)))  # the fast path's (4, N, size)
    c, out = np.zeros((batch, size), np.float32), np.empty_like(blocks)
    scale = np.array([0.5, 0.5, 1.0, 0.5], np.float32).reshape(4, 1, 1)  # sigmoid = 0.5 + 0.5 tanh(z / 2)
    shift = 1 - scale

    def one_tanh() -> None:  # the fast path: rows of f, i, o halved up front, one tanh for every gate
        np.tanh(blocks, out=out)
        np.multiply(out, scale, out=out)
        np.add(out, shift, out=out)

    def expit_and_tanh() -> None:
        for k in (0, 1, 3):
            expit(blocks[k], out=out[k])
        np.tanh(blocks[2], out=out[2])

    def exp_and_tanh() -> None:
        for k in (0, 1, 3):
            out[k] = 1 / (1 + np.exp(-blocks[k]))
        np.tanh(blocks[2], out=out[2])

    return {
        "interleaved": lambda: cell(*np.split(columns, 4, axis=1), c),
        "gate-major": lambda: cell(*blocks, c),
        "one tanh": one_tanh,
        "expit + tanh": expit_and_tanh,
        "1/(1+exp) + tanh": exp_and_tanh,
    }


def elementwise(batches: list[int], size: int, seconds: float, rounds: int) -> None:
    from benchmarks.harness import alternate

    print(f"\nLSTM of {size} units, one step, microseconds per call: the elementwise work on interleaved column "
          "blocks and on gate-major blocks; the four gate activations")
    names = ("interleaved", "gate-major", "one tanh", "expit + tanh", "1/(1+exp) + tanh")
    print(f"{'batch':>5}" + "".join(f"{name:>18}" for name in names))
    for batch in batches:
        rates = alternate(elementwise_calls(batch, size), 1, seconds, rounds)
        print(f"{batch:>5}" + "".join(f"{1e6 / rates[name]:>18.1f}" for name in names), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--size", type=int, default=20, help="units per layer")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per path per batch size")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    limit_threads(1)
    layers(args.batch, args.size, args.steps, args.features, args.seconds, args.rounds)
    elementwise(args.batch, args.size, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
