"""`diffviz dashboard [name]`: serve a lecture dashboard with Voila on this machine (offline-safe)."""
from __future__ import annotations

import argparse
import signal
import subprocess

from ..content import dashboard_names as available, dashboards_dir  # noqa: F401  (re-exported for callers)


def port_number(text: str) -> int:
    """argparse type: a TCP port a server can listen on."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number in 1..65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {port}")
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="explainer", help="dashboard name (default: explainer, the whole lecture)")
    p.add_argument("--port", type=port_number, default=8866, help="port to listen on, 1..65535 (default 8866)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a hall network)")
    p.add_argument("--no-preheat", action="store_true", help="do not keep a warmed-up kernel waiting")
    p.add_argument("--list", action="store_true", help="list the dashboards and exit")
    p.add_argument("--presenter", action="store_true",
                   help="bigger pictures and text for a projector (also: add ?presenter=1 to the URL)")


class _Stop(Exception):
    """SIGTERM or SIGINT reached `diffviz dashboard`."""


def _raise_stop(signum, frame):
    raise _Stop(signum)


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop Voila and every kernel it started (kernels run in sessions of their own, so a signal to
    Voila alone can leave them behind holding memory)."""
    import psutil  # a dependency of ipykernel, hence of voila

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        child.terminate()
    _, alive = psutil.wait_procs(alive, timeout=3)
    for child in alive:
        child.kill()


def run(args) -> int:
    from ..utils import PRESENTER_ENV
    from ..voila import voila_command, voila_environment

    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise ValueError(f"unknown dashboard {args.name!r}; available: {', '.join(names)}")
    notebook = dashboards_dir() / f"{args.name}.ipynb"
    cmd = voila_command(notebook.name, port=args.port, host=args.host, preheat=not args.no_preheat)
    env = voila_environment()
    if args.presenter:
        env[PRESENTER_ENV] = "1"
    print(f"diffviz dashboard {args.name}: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    # Voila runs in a session of its own, so Ctrl-C reaches only us; we stop it and its kernels.
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    proc = None
    try:
        proc = subprocess.Popen(cmd, cwd=notebook.parent, env=env, start_new_session=True)
        return proc.wait()
    except _Stop:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc is not None:
            stop_server(proc)
