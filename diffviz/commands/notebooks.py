"""`diffviz notebooks [DIR]`: copy the chapter notebooks into a folder you own, then open them."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dest", nargs="?", default="diffviz-chapters", help="folder to copy into (default: ./diffviz-chapters)")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="language of the chapters (default: en)")
    p.add_argument("--force", action="store_true", help="overwrite chapters already in the folder")
    p.add_argument("--list", action="store_true", help="list the chapters and exit")


def run(args) -> int:
    from ..content import chapters, copy_chapters

    if args.list:
        print("\n".join(p.stem for p in chapters(args.lang)))
        return 0
    written = copy_chapters(args.dest, lang=args.lang, overwrite=args.force)
    print(f"{len(written)} chapters in {args.dest}/ — open them with:  jupyter lab {args.dest}")
    return 0
