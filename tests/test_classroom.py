"""Many viewers in one process (Solara): models loaded once under a lock, a worker pool that keeps each
view's actions in order, and identical sampling requests computed once from a bounded cache."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from diffviz.diffusion.cache import TrajectoryCache, shared_cache, trajectory_bytes


def test_cache_hit_is_bitwise_the_computed_trajectory(class_model):
    shared_cache().clear()
    before = shared_cache().hits
    a = class_model.sample([1, 2], steps=4, seed=3, cache=True)
    b = class_model.sample([1, 2], steps=4, seed=3, cache=True)
    fresh = class_model.sample([1, 2], steps=4, seed=3)
    assert shared_cache().hits == before + 1
    assert b.x_t is a.x_t  # shared, not recomputed
    assert torch.equal(b.final, fresh.final) and torch.equal(b.x_t, fresh.x_t)
    b.meta["mine"] = 1  # each caller owns its meta
    assert "mine" not in a.meta


@pytest.mark.parametrize("change", [dict(seed=4), dict(steps=5), dict(guidance=1.5), dict(scheduler="euler"),
                                    dict(conditions=[1, 3])])
def test_cache_key_tells_every_setting_apart(class_model, change):
    shared_cache().clear()
    base = dict(conditions=[1, 2], steps=4, seed=3, guidance=2.0, scheduler="ddim")
    first = class_model.sample(**{**base, "conditions": base["conditions"]}, cache=True)
    other = {**base, **change}
    second = class_model.sample(other.pop("conditions"), **other, cache=True)
    assert second.x_t is not first.x_t
    assert torch.equal(second.final, class_model.sample(**{**base, **change}).final)


def test_cache_sees_changed_weights(class_model):
    import copy

    model = copy.deepcopy(class_model)
    a = model.sample([0], steps=3, seed=1, cache=True)
    with torch.no_grad():
        next(model.unet.parameters()).add_(0.5)  # an optimiser step changes weights in place
    b = model.sample([0], steps=3, seed=1, cache=True)
    assert b.x_t is not a.x_t and not torch.equal(a.final, b.final)


def test_cache_progress_callback_reaches_the_end_on_a_hit(class_model):
    class_model.sample([0], steps=3, seed=9, cache=True)
    seen = []
    class_model.sample([0], steps=3, seed=9, cache=True, callback=lambda i, n: seen.append((i, n)))
    assert seen == [(3, 3)]


def test_identical_requests_at_once_compute_once(class_model):
    cache = TrajectoryCache()
    calls, results = [], []

    def compute():
        calls.append(1)
        time.sleep(0.3)  # the others arrive while this one runs
        return class_model.sample([1], steps=2, seed=0)

    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1 and len(results) == 6 and cache.joined + cache.hits == 5
    assert all(r.x_t is results[0].x_t for r in results)


def test_cache_is_bounded_lru(class_model):
    traj = class_model.sample([1], steps=2, seed=0)
    size = trajectory_bytes(traj)
    cache = TrajectoryCache(max_items=10, max_bytes=2 * size)
    for key in "abc":
        cache.get_or_compute(key, lambda: traj)
    assert len(cache) == 2 and cache.nbytes <= 2 * size
    cache.get_or_compute("b", lambda: pytest.fail("b was cached"))
    cache.get_or_compute("d", lambda: traj)  # drops c (b was used more recently)
    recomputed = []
    cache.get_or_compute("c", lambda: recomputed.append(1) or traj)
    assert recomputed == [1]


def test_failed_computation_is_not_cached(class_model):
    cache = TrajectoryCache()
    with pytest.raises(ValueError, match="boom"):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert cache.get_or_compute("k", lambda: "ok") == "ok"


def test_bad_settings_still_raise_with_cache(class_model):
    with pytest.raises(ValueError, match="steps"):
        class_model.sample([0], steps=0, cache=True)


def at_once(n: int, call) -> tuple[list, list]:
    """Run `call` on n threads at once: (results, errors raised)."""
    got, errors = [], []

    def one():
        try:
            got.append(call())
        except Exception as err:  # noqa: BLE001 - the test reports it
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return got, errors


def test_models_load_once_under_concurrent_requests(monkeypatch):
    """Eight viewers open a dashboard at once: one load (concurrent diffusers loads fail on meta tensors)."""
    from diffviz.models import registry
    from diffviz.widgets import base

    loads = []
    real = registry._load

    def counting(name, device, text_encoder=None):
        loads.append(name)
        return real(name, device, text_encoder)

    monkeypatch.setattr(registry, "_load", counting)
    monkeypatch.setattr(base, "_SHARED_MODELS", {})
    got, errors = at_once(8, lambda: base.default_model("tiny-class"))
    assert not errors and loads == ["tiny-class"] and all(m is got[0] for m in got)


def test_concurrent_folder_loads_do_not_fail(tmp_path, class_model):
    """Loads of model folders (fresh copies) from many threads at once all succeed."""
    from diffviz.models.registry import load

    class_model.save_pretrained(tmp_path / "m")
    got, errors = at_once(4, lambda: load(tmp_path / "m"))
    assert not errors and len(got) == 4


def test_worker_pool_keeps_each_views_actions_in_order(monkeypatch):
    """With several workers, two views run side by side but each view's actions stay in order."""
    from diffviz.widgets import base

    monkeypatch.setenv(base.WORKERS_ENV, "3")
    monkeypatch.setattr(base, "_WORKER", [])
    log, lock = [], threading.Lock()
    a, b = base.View(), base.View()
    running = set()
    overlap = []

    def action(view, i):
        with lock:
            if view in running:
                overlap.append(view)
            running.add(view)
        time.sleep(0.05)
        with lock:
            log.append((id(view), i))
            running.discard(view)
        return i

    futs = [v.submit(action, v, i) for i in range(5) for v in (a, b)]
    assert [f.result(10) for f in futs] == [i for i in range(5) for _ in (a, b)]
    assert not overlap
    for v in (a, b):
        assert [i for who, i in log if who == id(v)] == list(range(5))
    assert len(base._worker()._threads) >= 2  # the two views really ran on different threads
    base._worker().shutdown()


def test_worker_count_refuses_nonsense(monkeypatch):
    from diffviz.widgets import base

    monkeypatch.setenv(base.WORKERS_ENV, "many")
    with pytest.raises(ValueError, match="DIFFVIZ_WORKERS"):
        base.worker_count()
    monkeypatch.setenv(base.WORKERS_ENV, "0")
    assert base.worker_count() == 1


# ---- `diffviz dashboard NAME --server solara` ------------------------------------------------------
@pytest.mark.parametrize("argv, message", [(["--server", "solara", "--workers", "0"], "workers must be in [1, 64]"),
                                           (["--server", "solara", "--workers", "two"], "workers must be a whole"),
                                           (["--server", "jupyterhub"], "invalid choice")])
def test_solara_options_are_checked_before_anything_starts(argv, message, capsys):
    from diffviz.cli import main

    assert main(["dashboard", "01_forward", *argv]) == 2
    assert message in capsys.readouterr().err


def test_workers_without_solara_is_refused():
    import argparse

    from diffviz.commands import dashboard

    p = argparse.ArgumentParser()
    dashboard.add_arguments(p)
    with pytest.raises(ValueError, match="--workers is for --server solara"):
        dashboard.run(p.parse_args(["01_forward", "--workers", "2"]))


def test_solara_environment_is_offline_and_serves_the_plotly_bundle(tmp_path, monkeypatch):
    from pathlib import Path

    from diffviz.servers import solara_command, solara_environment
    from diffviz.utils import PLOTLY_BUNDLE_ENV

    monkeypatch.setenv("DIFFVIZ_CACHE", str(tmp_path))
    env = solara_environment("02_reverse", workers=3)
    assert env["DIFFVIZ_SOLARA_DASHBOARD"] == "02_reverse" and env["DIFFVIZ_WORKERS"] == "3"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    bundle = Path(env["SOLARA_ASSETS_EXTRA_LOCATIONS"]) / Path(env[PLOTLY_BUNDLE_ENV]).name
    assert bundle.is_file() and not bundle.is_symlink() and bundle.stat().st_size > 1_000_000
    cmd = solara_command(port=9999)
    assert "--production" in cmd and "--no-check-version" in cmd and "--port=9999" in cmd


def test_run_cells_gives_each_viewer_its_own_widgets():
    from diffviz.servers.solara_app import read_dashboard, run_cells

    cells = read_dashboard("01_forward")
    first, second = run_cells(cells), run_cells(cells)
    kinds = [type(w).__name__ for w in first]
    assert kinds == ["HTML", "ForwardProcess"]
    assert "Forward process" in first[0].value and "<h1>" in first[0].value
    assert first[1] is not second[1]  # per-viewer state; the model inside is shared
    with pytest.raises(ValueError, match="unknown dashboard 'nope'"):
        read_dashboard("nope")


@pytest.mark.slow
def test_solara_dashboard_serves_and_stops_cleanly():
    """`diffviz dashboard 01_forward --server solara` answers a page load; SIGTERM leaves nothing behind."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    import psutil

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "diffviz.cli", "dashboard", "01_forward", "--server", "solara",
                             "--port", str(port)], env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, page = time.time() + 120, ""
        while time.time() < deadline and not page:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read().decode()
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        assert "solara" in page.lower() and "diffviz · 01_forward" in page
        assert "cdn.jsdelivr" not in page and "solara.dev/static" not in page  # no CDN, no check-in iframe
        family = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not alive
    finally:
        if proc.poll() is None:
            proc.kill()


# ---- Voila: a cap on live kernels --------------------------------------------------------------------
def test_voila_kernel_manager_loads_without_torch():
    """The Voila server imports the capped kernel manager: that must not pull torch into it."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, diffviz.voila.kernels as k; "
                          "print('torch' in sys.modules, k.default_max_kernels() >= 1)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_voila_refuses_kernels_beyond_the_cap_with_a_clear_page(tmp_path):
    import json
    import urllib.error
    import urllib.request

    from browser.conftest import VoilaServer

    nb = tmp_path / "light.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": "1 + 1", "outputs": [],
                                         "execution_count": None}],
                              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                              "nbformat": 4, "nbformat_minor": 5}))
    server = VoilaServer(nb, preheat=False, settings={"CappedKernelManager.max_kernels": 1})
    try:
        first = urllib.request.urlopen(server.url, timeout=120).read().decode()
        assert "Dashboard full" not in first
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url, timeout=120)
        body = info.value.read().decode()
        assert info.value.code == 503
        assert "All 1 places of this dashboard are taken" in body and "--server solara" in body and "名额" in body and "&amp;" not in body
    finally:
        server.stop()


def test_the_sticky_proxy_spreads_new_viewers_and_keeps_known_ones():
    from diffviz.servers.proxy import Backends, cookie_index

    b = Backends([9001, 9002, 9003])
    first = [b.pick() for _ in range(6)]
    assert sorted(first) == [0, 0, 1, 1, 2, 2], "new viewers go to the process with the fewest"
    assert b.index_from("2") == 2 and b.index_from("7") is None and b.index_from("x") is None and b.index_from(None) is None
    assert b.url(1, "/jupyter/api/kernels/a/channels?session_id=s", "ws") == "ws://127.0.0.1:9002/jupyter/api/kernels/a/channels?session_id=s"
    assert cookie_index("diffviz-worker=1; Path=/; HttpOnly; SameSite=Lax") == 1
    with pytest.raises(ValueError, match="at least one"):
        Backends([])


def test_processes_are_for_solara(capsys):
    from diffviz.cli import main

    assert main(["dashboard", "02_reverse", "--processes", "2"]) != 0
    assert "--processes is for --server solara" in capsys.readouterr().err


def _static_app(tmp_path, calls):
    """A starlette app serving one file under /static/ and one page, each counting its calls, behind
    solara_main's caching gzip middleware (as Solara's app is)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, PlainTextResponse
    from starlette.routing import Route

    from diffviz.servers.solara_main import CachedGZipMiddleware, StaticCache

    asset = tmp_path / "app.js"
    asset.write_text("var x = 1;\n" * 5000)

    def static(request):
        calls.append(request.url.path)
        return FileResponse(asset)

    def page(request):
        calls.append(request.url.path)
        return PlainTextResponse("page " * 400)

    CachedGZipMiddleware.cache = StaticCache()
    return Starlette(routes=[Route("/static/app.js", static), Route("/", page)],
                     middleware=[Middleware(CachedGZipMiddleware, minimum_size=1000)]), asset


def test_static_files_are_compressed_once_and_served_from_memory(tmp_path):
    import gzip

    from starlette.testclient import TestClient

    from diffviz.servers.solara_main import CachedGZipMiddleware

    calls = []
    app, asset = _static_app(tmp_path, calls)
    client = TestClient(app)
    first = client.get("/static/app.js", headers={"accept-encoding": "gzip"})
    second = client.get("/static/app.js", headers={"accept-encoding": "gzip"})
    assert first.status_code == second.status_code == 200
    assert second.headers["content-encoding"] == "gzip" and second.content == asset.read_bytes()  # httpx un-gzips
    assert second.headers["content-length"] == first.headers["content-length"]
    assert int(second.headers["content-length"]) < asset.stat().st_size // 10  # really compressed
    assert calls == ["/static/app.js"]  # the file was read (and compressed) once
    plain = client.get("/static/app.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == asset.read_bytes()
    assert calls == ["/static/app.js"] * 2  # a client without gzip has its own entry
    # pages, conditional and partial requests are Solara's own business, never cached
    client.get("/", headers={"accept-encoding": "gzip"}), client.get("/", headers={"accept-encoding": "gzip"})
    client.get("/static/app.js", headers={"if-none-match": first.headers["etag"]})
    assert calls.count("/") == 2 and calls.count("/static/app.js") == 3
    cache = CachedGZipMiddleware.cache
    assert cache.hits == 1 and gzip.decompress(next(iter(cache._items.values()))[1]) == asset.read_bytes()


def test_static_cache_is_bounded():
    from diffviz.servers.solara_main import StaticCache

    cache = StaticCache(max_total=10, max_entry=6)
    start = {"type": "http.response.start", "status": 200, "headers": []}
    cache.put("a", start, b"12345"), cache.put("b", start, b"12345")
    cache.put("big", start, b"1234567")  # over max_entry: not kept
    assert cache.get("big") is None and cache.get("a") is not None
    cache.put("c", start, b"123")  # over max_total: the least recently used ("b") goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache._size == 8


def test_solara_command_runs_solara_through_the_caching_launcher():
    import subprocess
    import sys

    from diffviz.servers import solara_command

    cmd = solara_command(port=9999)
    assert cmd[1:4] == ["-m", "diffviz.servers.solara_main", "run"]
    # the launcher hands the command line to Solara's own CLI
    out = subprocess.run([sys.executable, "-m", "diffviz.servers.solara_main", "run", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--production" in out.stdout


def test_release_memory_runs_at_most_once_per_window_and_once_after_it(monkeypatch):
    import time

    from diffviz import utils

    runs = []
    monkeypatch.setattr(utils, "_release_now", lambda: runs.append(time.monotonic()))
    monkeypatch.setattr(utils, "RELEASE_EVERY_S", 0.5)
    monkeypatch.setattr(utils, "_released", [0.0])
    utils.release_memory()
    for _ in range(20):  # a burst of actions: one release now, one at the window's end
        utils.release_memory()
    assert len(runs) == 1
    time.sleep(0.8)
    assert len(runs) == 2 and runs[1] - runs[0] >= 0.45
    utils.release_memory(force=True)
    assert len(runs) == 3


def test_launcher_and_proxy_do_not_carry_torch():
    """`diffviz dashboard` stays alive beside its servers for the whole lecture, and the sticky proxy holds
    every connection: neither imports torch (each would carry ~0.4–0.9 GB of RSS for nothing)."""
    import subprocess
    import sys

    code = ("import sys, psutil\n"
            "import diffviz.cli, diffviz.commands.dashboard, diffviz.servers.proxy\n"
            "from diffviz.servers import solara_command, solara_environment\n"
            "from diffviz.voila import voila_command, voila_environment\n"
            "solara_environment('02_reverse'), solara_command(), voila_environment()\n"
            "heavy = [m for m in ('torch', 'diffusers', 'open_clip', 'ipywidgets') if m in sys.modules]\n"
            "print(heavy, psutil.Process().memory_info().rss // 2**20)\n")  # (ru_maxrss keeps the forking pytest's)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    heavy, rss_mb = out.stdout.rsplit("]", 1)
    assert heavy + "]" == "[]", f"the launcher imports {heavy}]"
    assert int(rss_mb) < 150, f"launcher RSS {rss_mb} MB"


# ---- Solara: nothing leaves the machine -------------------------------------------------------------------
@pytest.mark.slow
def test_solara_cdn_route_serves_shipped_files_and_404s_the_rest_without_any_outbound_attempt(tmp_path, monkeypatch):
    """A viewer asking Solara's CDN route for a file solara-assets does not ship gets a 404; the 'CDN' (a local
    listener standing in for jsdelivr) is never contacted and nothing is written into the asset copy."""
    import shutil
    import socket
    import urllib.error
    import urllib.request
    from pathlib import Path

    from solara.server import settings as solara_settings
    from browser.conftest import SolaraServer

    cdn = tmp_path / "cdn"
    shutil.copytree(Path(solara_settings.assets.proxy_cache_dir) / "requirejs@2.3.6", cdn / "requirejs@2.3.6")
    shipped = sorted(p.relative_to(cdn) for p in cdn.rglob("*"))
    contacts = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        monkeypatch.setenv("SOLARA_ASSETS_CDN", f"http://127.0.0.1:{listener.getsockname()[1]}/npm/")
        monkeypatch.setenv("SOLARA_ASSETS_PROXY_CACHE_DIR", str(cdn))
        monkeypatch.setenv("DIFFVIZ_CACHE", str(tmp_path / "cache"))
        server = SolaraServer("01_forward", workers=1)
        try:
            base = f"{server.url}_solara/cdn/"
            assert b"requirejs" in urllib.request.urlopen(base + "requirejs@2.3.6/require.js", timeout=60).read()
            for missing in ("vue@2.6.14/dist/vue.min.js", "requirejs@2.3.6/not-there.js", "left-pad"):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(base + missing, timeout=60)
                assert refused.value.code == 404, missing
                try:
                    contacts.append(listener.accept())
                except TimeoutError:
                    pass
        finally:
            server.stop()
    assert not contacts, "the server reached out to the CDN"
    assert sorted(p.relative_to(cdn) for p in cdn.rglob("*")) == shipped, "nothing fetched into the asset copy"
