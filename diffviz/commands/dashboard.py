"""`diffviz dashboard [name]`: serve a lecture dashboard with Voila (or, `--server solara`, Solara) on this
machine (offline-safe)."""
from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys

from ..content import dashboard_names as available, dashboards_dir  # noqa: F401  (re-exported for callers)
from ..errors import DiffvizError
from . import int_in

PORT = int_in(1, 65535, "port")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="explainer", help="dashboard name (default: explainer, the whole lecture)")
    p.add_argument("--port", type=PORT, default=8866, help="port to listen on, 1..65535 (default 8866)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a hall network)")
    p.add_argument("--no-preheat", action="store_true", help="do not keep a warmed-up kernel waiting")
    p.add_argument("--list", action="store_true", help="list the dashboards and exit")
    p.add_argument("--presenter", action="store_true",
                   help="bigger pictures and text for a projector (also: add ?presenter=1 to the URL)")
    p.add_argument("--lang", choices=["en", "zh"], default=None,
                   help="language of the widgets' labels (default: DIFFVIZ_LANG or en)")
    add_server_arguments(p)


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", choices=["voila", "solara"], default="voila",
                   help="voila (default): a kernel per viewer; solara: many viewers in one process, for a "
                        "lecture hall (pip install 'diffviz[classroom]')")
    p.add_argument("--workers", type=int_in(1, 64, "workers"), default=None,
                   help="--server solara: threads computing for the viewers, 1..64 (default 2)")
    p.add_argument("--processes", type=int_in(1, 64, "processes"), default=1,
                   help="--server solara: Solara processes behind one sticky proxy on --port, 1..64 (default 1; "
                        "~1.1 GB each; more processes use more cores for a big hall)")
    p.add_argument("--max-kernels", type=int_in(1, None, "max-kernels"), default=None,
                   help="Voila: most viewers' kernels alive at once, ~1.3 GB each (default: what this machine's "
                        "memory holds); a page load beyond it gets a 'dashboard full' page")


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


def check_port_free(host: str, port: int) -> None:
    """Refuse up front a port something already listens on (an earlier `diffviz dashboard` still running, say),
    instead of a server that starts and dies with a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is not "held"
        try:
            s.bind((host, port))
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            raise DiffvizError(f"port {port} on {host} is already in use (another diffviz dashboard still running?); "
                               "stop that server or choose another --port") from None


def _die_with_parent(parent: int):
    """A preexec_fn: the child gets SIGTERM when the launcher dies, even by kill -9 (Linux's parent-death signal),
    so no server is left holding the port."""
    def set_signal() -> None:
        if sys.platform.startswith("linux"):
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the launcher died before the signal was set
            os.kill(os.getpid(), signal.SIGTERM)
    return set_signal


def run(args) -> int:
    from ..utils import PRESENTER_ENV
    from ..voila import voila_command, voila_environment

    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise DiffvizError(f"unknown dashboard {args.name!r}; available: {', '.join(names)}")
    notebook = dashboards_dir() / f"{args.name}.ipynb"
    if getattr(args, "server", "voila") == "solara":
        return run_solara(args)
    if (getattr(args, "processes", 1) or 1) > 1:
        raise DiffvizError("--processes is for --server solara (Voila already gives every viewer a process)")
    if getattr(args, "workers", None) is not None:
        raise ValueError("--workers is for --server solara (a Voila kernel serves one viewer with one worker)")
    cmd = voila_command(notebook.name, port=args.port, host=args.host, preheat=not args.no_preheat,
                        max_kernels=getattr(args, "max_kernels", None))
    env = voila_environment()
    if args.presenter:
        env[PRESENTER_ENV] = "1"
    if args.lang:
        env["DIFFVIZ_LANG"] = args.lang  # read by every kernel's diffviz.i18n
    check_port_free(args.host, args.port)
    print(f"diffviz dashboard {args.name}: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    return _serve(cmd, env, notebook.parent)


def run_solara(args) -> int:
    """`--server solara`: every viewer in one Solara process (shared imports and models, a worker pool)."""
    from ..servers import DEFAULT_WORKERS, check_installed, solara_command, solara_environment
    from ..utils import PRESENTER_ENV

    if getattr(args, "max_kernels", None) is not None:
        raise ValueError("--max-kernels is for Voila (Solara serves every viewer from one process)")
    check_installed()
    env = solara_environment(args.name, workers=args.workers or DEFAULT_WORKERS)
    if args.presenter:
        env[PRESENTER_ENV] = "1"
    if getattr(args, "lang", None):
        env["DIFFVIZ_LANG"] = args.lang
    processes = getattr(args, "processes", 1) or 1
    check_port_free(args.host, args.port)
    print(f"diffviz dashboard {args.name} (Solara, {processes} process{'es' if processes > 1 else ''} × "
          f"{args.workers or DEFAULT_WORKERS} workers): http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    if processes == 1:
        return _serve(solara_command(port=args.port, host=args.host), env, dashboards_dir())
    ports = [args.port + 1 + i for i in range(processes)]
    if ports[-1] > 65535:
        raise DiffvizError(f"--processes {processes} needs ports {ports[0]}..{ports[-1]} after --port; use a lower --port")
    for port in ports:
        check_port_free("127.0.0.1", port)
    backends = [(solara_command(port=p, host="127.0.0.1"), env) for p in ports]
    proxy = [sys.executable, "-m", "diffviz.servers.proxy", args.host, str(args.port), *map(str, ports)]
    return _serve(proxy, dict(env), dashboards_dir(), backends=backends)


def _serve(cmd: list[str], env: dict, cwd, backends: list[tuple[list[str], dict]] = ()) -> int:
    # The server runs in a session of its own, so Ctrl-C reaches only us; we stop it and its kernels. Killed
    # outright (kill -9), we cannot: the servers then get SIGTERM from the kernel (_die_with_parent) and stop.
    # `backends`: processes behind it (Solara processes behind the sticky proxy), stopped with it.
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen] = []
    start = dict(cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
    try:
        for backend_cmd, backend_env in backends:
            procs.append(subprocess.Popen(backend_cmd, env=backend_env, **start))
        procs.append(subprocess.Popen(cmd, env=env, **start))
        return procs[-1].wait()
    except _Stop:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for proc in reversed(procs):
            stop_server(proc)
