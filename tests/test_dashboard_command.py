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


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_dashboard_leaves_no_server_or_kernel(sig):
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", "01_forward", "--port", str(port),
                             "--no-preheat"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=240).read()  # a page load starts a kernel
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("ipykernel" in " ".join(p.cmdline()) for p in family), "the page load started a kernel"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of our own request is fine,
            s.bind(("127.0.0.1", port))  # a listener left behind is not: the port is free again
    finally:
        if proc.poll() is None:
            proc.kill()
