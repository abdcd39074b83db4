"""The ``tn`` command."""

from __future__ import annotations

import argparse
import sys

from tn_core.plugins import get_plugins

PLURALS = {"structure": "structures", "activation": "activations", "optimizer": "optimizers",
           "loss": "losses", "initializer": "initializers"}


def cmd_plugins(args: argparse.Namespace) -> int:
    """List loaded plugins, their versions and what each registered."""
    for info in get_plugins().plugin_infos():
        version = f" {info.version}" if info.version else ""
        if info.error:
            print(f"{info.name}{version}: FAILED to load: {info.error}")
            continue
        print(f"{info.name}{version}")
        for kind, names in sorted(info.registered.items()):
            print(f"  {PLURALS[kind]}: {', '.join(sorted(names))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tn", description="tensornet command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plugins", help=cmd_plugins.__doc__).set_defaults(func=cmd_plugins)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
