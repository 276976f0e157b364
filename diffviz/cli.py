"""`diffviz` command line. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; register it in SUBCOMMANDS."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module path, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sample": ("diffviz.commands.sample", "sample from a model and write a PNG strip of the trajectory"),
    "train": ("diffviz.commands.train", "train a bundled model (resumable) or one of its parts"),
    "dashboard": ("diffviz.commands.dashboard", "serve a lecture dashboard with Voila on 127.0.0.1"),
    "export": ("diffviz.commands.export", "write a self-contained offline HTML lecture page"),
    "notebooks": ("diffviz.commands.notebooks", "copy the chapter notebooks into a folder you own"),
    "fid": ("diffviz.commands.fid", "FID (and KID) of a model's samples against real images of its domain"),
    "evaluate": ("diffviz.commands.evaluate", "measure the bundled models' quality as their model cards do"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffviz", description="See how a diffusion model works.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ValueError, TypeError, OSError) as err:
        print(f"diffviz {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
