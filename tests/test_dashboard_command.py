"""`diffviz dashboard` as a process: a bad port is refused before anything starts, and SIGTERM
leaves no Voila and no kernel behind."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from diffviz.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_out_of_range_is_refused_before_anything_starts(port, capsys):
    assert main(["dashboard", "01_forward", "--port", port]) == 2
    assert "port must be" in capsys.readouterr().err


def start_dashboard(port: int, *extra: str) -> subprocess.Popen:
    """`diffviz dashboard 01_forward` on `port`, after a page load answered (for Voila: a kernel started)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", "01_forward", "--port", str(port),
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=240).read()  # a page load starts a kernel
            return proc
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("the dashboard did not answer within 120 s")


def assert_port_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of our own request is fine,
        s.bind(("127.0.0.1", port))  # a listener left behind is not: the port is free again


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_dashboard_leaves_no_server_or_kernel(sig):
    port = free_port()
    proc = start_dashboard(port, "--no-preheat")
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("ipykernel" in " ".join(p.cmdline()) for p in family), "the page load started a kernel"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
        assert_port_free(port)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize("server", ["voila", "solara"])
def test_a_killed_launcher_takes_its_servers_with_it(server):
    """kill -9 of `diffviz dashboard` (no chance to clean up): Voila or Solara, and Voila's kernels, die with it
    within seconds and the port is free for the next lecture."""
    port = free_port()
    proc = start_dashboard(port, "--no-preheat", "--server", server)
    family = psutil.Process(proc.pid).children(recursive=True)
    try:
        assert family, "the launcher started its server"
        if server == "voila":
            assert any("ipykernel" in " ".join(p.cmdline()) for p in family), "the page load started a kernel"
        proc.kill()
        proc.wait(timeout=10)
        _, alive = psutil.wait_procs(family, timeout=15)
        assert not alive, f"orphans left running: {[p.cmdline()[:3] for p in alive]}"
        assert_port_free(port)
    finally:
        for p in family:
            if p.is_running():
                p.kill()


@pytest.mark.parametrize("server", ["voila", "solara"])
def test_a_second_dashboard_on_a_held_port_says_so(server, capsys):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["dashboard", "01_forward", "--server", server, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port" in err
