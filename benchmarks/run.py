"""Print training throughput (samples/s) for benchmark models, with PyTorch side by side.

    python -m benchmarks.run                      # list models
    python -m benchmarks.run mlp --batch 1 32 256
    python -m benchmarks.run all
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import benchmarks
from benchmarks.harness import Spec, throughput


def all_specs() -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if module.name.startswith("models_"):
            try:
                loaded = importlib.import_module(f"benchmarks.{module.name}")
            except ImportError as exc:  # a plugin that is not installed
                print(f"# skipping {module.name}: {exc}")
                continue
            specs.update({spec.name: spec for spec in loaded.SPECS})
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model names, or 'all'")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per system per batch size")
    args = parser.parse_args()
    specs = all_specs()
    names = list(specs) if args.models == ["all"] else args.models
    if not names:
        print("models:", ", ".join(specs))
        return
    print(f"{'model':<12}{'batch':>6}{'tn samples/s':>15}{'torch samples/s':>17}{'tn/torch':>10}")
    for name in names:
        for batch in args.batch:
            r = throughput(specs[name], batch, seconds=args.seconds)
            torch_rate = f"{r['torch']:>17.0f}" if "torch" in r else f"{'-':>17}"
            ratio = f"{r['ratio']:>10.2f}" if "ratio" in r else f"{'-':>10}"
            print(f"{name:<12}{batch:>6}{r['tn']:>15.0f}{torch_rate}{ratio}", flush=True)


if __name__ == "__main__":
    main()
