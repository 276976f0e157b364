"""`diffviz dashboard [name]`: serve a lecture dashboard with Voila on this machine (offline-safe)."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO_DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


def dashboards_dir() -> Path:
    import os

    d = Path(os.environ.get("DIFFVIZ_DASHBOARDS", REPO_DASHBOARDS))
    if not d.is_dir():
        raise FileNotFoundError(f"no dashboards folder at {d}; set DIFFVIZ_DASHBOARDS to the repository's dashboards/")
    return d


def available() -> list[str]:
    return sorted(p.stem for p in dashboards_dir().glob("*.ipynb"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="explainer", help="dashboard name (default: explainer, the whole lecture)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a hall network)")
    p.add_argument("--no-preheat", action="store_true", help="do not keep a warmed-up kernel waiting")
    p.add_argument("--list", action="store_true", help="list the dashboards and exit")
    p.add_argument("--presenter", action="store_true",
                   help="bigger pictures and text for a projector (also: add ?presenter=1 to the URL)")


def run(args) -> int:
    from ..voila import voila_command, voila_environment

    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise ValueError(f"unknown dashboard {args.name!r}; available: {', '.join(names)}")
    notebook = dashboards_dir() / f"{args.name}.ipynb"
    cmd = voila_command(notebook.name, port=args.port, host=args.host, preheat=not args.no_preheat)
    print(f"diffviz dashboard {args.name}: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    env = voila_environment()
    if args.presenter:
        from ..utils import PRESENTER_ENV

        env[PRESENTER_ENV] = "1"
    try:
        return subprocess.call(cmd, cwd=notebook.parent, env=env)
    except KeyboardInterrupt:
        return 0
