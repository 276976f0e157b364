"""`diffviz` command line. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; register it in SUBCOMMANDS.

Exit codes: 0 done; 2 bad input (one line on stderr: what was wrong and what is allowed); 3 a run that
stopped short (`train --minutes`); 1 an unexpected error (a bug: one line, `--debug` shows the traceback);
130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings

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
MESSAGE_LIMIT = 300


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`diffviz sample: error: … (see diffviz sample --help)`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="diffviz", description="See how a diffusion model works.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an unexpected error")
        p.set_defaults(_module=module)
    return parser


def _show_warning(prog: str):
    def show(message, category, filename, lineno, file=None, line=None):  # a warning is a one-line note, not a source dump
        print(f"{prog}: note: {_one_line(message)}", file=sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a usage error (already printed, one line) or --help: the exit code, returned
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    prog = f"diffviz {args.command}"
    from .errors import DiffvizError

    previous = warnings.showwarning
    warnings.showwarning = _show_warning(prog)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except DiffvizError as err:  # bad input: what was wrong and what is allowed
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine's answer (disk full, no permission): the user's to fix, not a bug
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"{prog}: error: {_one_line((err.strerror or str(err)) + where)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: say so briefly; --debug shows where
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: internal error: {type(err).__name__}: {_one_line(err, 200)}"
              + ("" if args.debug else f" (run `{prog} --debug …` for the traceback)"), file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    sys.exit(main())
