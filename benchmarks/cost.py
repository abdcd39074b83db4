"""What a layer costs: tensornet training steps of a model and of its variant with the layer, alternated.

    python -m benchmarks.cost conv conv_bn --batch 32 256 --threads 1

prints the median step time of each (rounds alternate the two models, so
both see the same machine load) and how much longer the variant's step is,
as a fraction of the base model's step.
"""

from __future__ import annotations

import argparse

from benchmarks.run import all_specs, limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="the model without the layer, e.g. conv")
    parser.add_argument("variant", help="the model with it, e.g. conv_bn")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--seconds", type=float, default=6.0, help="time per model per batch size")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="threads for NumPy's BLAS")
    args = parser.parse_args()
    if args.threads is not None:
        limit_threads(args.threads)
    import numpy as np  # after the thread limits are set

    from benchmarks.harness import alternate, random_batch, tn_stepper

    specs = all_specs()
    base, variant = specs[args.base], specs[args.variant]
    print(f"{'batch':>6}{args.base + ' ms':>14}{args.variant + ' ms':>14}{'extra':>9}")
    for batch in args.batch:
        x, y = random_batch(base, batch, np.random.default_rng(0))
        steppers = {"base": tn_stepper(base, x, y), "variant": tn_stepper(variant, x, y)}
        rates = alternate(steppers, batch, args.seconds, args.rounds)
        base_ms, variant_ms = (1e3 * batch / rates[k] for k in ("base", "variant"))
        print(f"{batch:>6}{base_ms:>14.2f}{variant_ms:>14.2f}{variant_ms / base_ms - 1:>9.1%}", flush=True)


if __name__ == "__main__":
    main()
