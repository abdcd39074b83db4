"""The ``tn`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tn_core import demo
from tn_core.errors import ConfigError, TensornetError
from tn_core.fields import check_int
from tn_core.plugins import get_plugins
from tn_core.serialize import INPUT_SLACK, load
from tn_core.summary import summary_table

PLURALS = {"structure": "structures", "activation": "activations", "optimizer": "optimizers",
           "loss": "losses", "initializer": "initializers", "callback": "callbacks",
           "optimizer kernel": "optimizer kernels", "array kernel": "array kernels"}


def cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins, their versions and distributions, what each registered, clashes and failures."""
    for info in get_plugins().plugin_infos():
        version = f" {info.version}" if info.version else ""
        if info.error:
            print(f"{info.name}{version}: FAILED to load: {info.error}")
        else:
            print(f"{info.name}{version}")
        for kind, names in sorted(info.registered.items()):
            print(f"  {PLURALS[kind]}: {', '.join(sorted(names))}")
        for what, error in info.kernel_errors.items():
            print(f"  {what}: FAILED: {error}")
        for clash in info.ambiguous:
            print(f"  ambiguous: {clash}")
        if info.distribution:
            print(f"  distribution: {info.distribution}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train the original library's OCR network on generated letters; report accuracy, save the model and a picture."""
    demo.run(model=args.model, epochs=args.epochs, samples=args.samples, seed=args.seed, out=args.out, quiet=args.quiet)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the layers, output shapes and parameter counts of a model file."""
    system = load(args.path, max_input_numbers=args.max_input_numbers)
    print(f"{args.path}:")
    print(summary_table(system))
    if system.optimizer is not None:
        print(f"optimizer: {type(system.optimizer).__name__} (lr {system.optimizer.lr:g}) after {system.step} updates")
    return 0


def _int_option(what: str, low: int) -> Callable[[str], int]:
    """An option's type: an int >= ``low`` (``check_int``), its error (naming ``what``) worded for argparse."""

    def parse(text: str) -> int:
        try:
            value: int | str = int(text)
        except ValueError:
            value = text  # check_int refuses it, naming what was expected
        try:
            return check_int(value, what, low)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tn", description="tensornet command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plugins", help=cmd_plugins.__doc__).set_defaults(func=cmd_plugins)
    demo_command = commands.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    demo_command.add_argument("--model", choices=list(demo.MODELS), default="mlp",
                              help="network: mlp (the original library's, default), conv, rnn, lstm or residual")
    count = _int_option("a count", 1)
    demo_command.add_argument("--epochs", type=count, help="passes over the training set (default: the model's)")
    demo_command.add_argument("--samples", type=count, help="training images to generate (default: the model's)")
    demo_command.add_argument("--seed", type=_int_option("a seed", 0), default=0,
                              help="seed of the data, the weights and the shuffling")
    demo_command.add_argument("--out", default=".", help="folder for the model file and the picture (default: .)")
    demo_command.add_argument("--quiet", action="store_true", help="no progress bar and no layer table")
    demo_command.set_defaults(func=cmd_demo)
    summary = commands.add_parser("summary", help=cmd_summary.__doc__, description=cmd_summary.__doc__)
    summary.add_argument("path", help="a model file written by tn.save or tn demo")
    summary.add_argument("--max-input-numbers", type=_int_option("a count", 0), default=INPUT_SLACK,
                         help="numbers per sample a layer's inputs may hold beyond the file's parameters "
                              f"(default {INPUT_SLACK:,}: a bound on what a hostile file costs)")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TensornetError as exc:
        print(f"tn {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
