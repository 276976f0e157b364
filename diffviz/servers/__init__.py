"""Serving the dashboards to a whole lecture hall from one process with Solara's server.

Voila (`diffviz dashboard NAME`) starts one kernel per viewer: torch, diffusers, open_clip and the
models in every one (~1.3 GB each). Solara's server runs the same ipywidgets as "virtual kernels"
in ONE process: imports and models are shared (loaded once, under a lock), each viewer holds only its
widgets. `diffviz dashboard NAME --server solara` runs `solara run diffviz.servers.solara_app` (through
`python -m diffviz.servers.solara_main`) with:

- the dashboard named in DASHBOARD_ENV (its markdown and code cells, run per viewer);
- every asset served from this machine: Solara's front end and its CDN files from `solara-assets`,
  plotly's widget bundle as one static file (charts import it instead of carrying 5 MB each), no
  telemetry, no version check;
- a small pool of worker threads for heavy actions (`DIFFVIZ_WORKERS`, default 2) with torch's
  threads split between them, and the trajectory cache (identical requests computed once);
- Solara's front end and diffviz's assets (plotly's bundle, the CJK font) compressed once per process,
  not once per viewer (`solara_main`: the largest per-viewer cost on the server before).

Install with `pip install 'diffviz[classroom]'` (solara-server, solara-ui and solara-assets of one
matching version).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..utils import PLOTLY_BUNDLE_ENV

DASHBOARD_ENV = "DIFFVIZ_SOLARA_DASHBOARD"
APP_MODULE = "diffviz.servers.solara_app"
DEFAULT_WORKERS = 2
# Solara serves SOLARA_ASSETS_EXTRA_LOCATIONS' files under /static/assets/; a chart resolves this against the
# page's Jupyter base URL (/jupyter/), so it is relative to that.
ASSETS_URL = "../static/assets/"
# The same folder seen from the page itself (its style sheet resolves against the page's address).
PAGE_ASSETS_URL = "static/assets/"


def check_installed() -> None:
    """Refuse clearly when Solara's server or its offline assets are missing."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("solara-server", "solara-ui", "solara-assets"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            raise RuntimeError(f"--server solara needs {name}: pip install 'diffviz[classroom]'") from None
    if len(set(found.values())) != 1:
        raise RuntimeError("solara-server, solara-ui and solara-assets must be one version (the front end asks for "
                           f"files only its own assets carry); found {found}: pip install 'diffviz[classroom]'")


def assets_dir() -> Path:
    """A folder Solara serves under /static/assets/, holding plotly's widget bundle and the CJK subset font
    (copies: Solara's static files do not follow links out of their folder). Served as files, a viewer's
    browser fetches each once (and the server compresses it once), instead of every viewer's websocket
    carrying them."""
    import shutil

    from ..i18n.fonts import FONT_FILE
    from ..voila import _plotly_bundle, data_dir, plotly_bundle_name

    d = data_dir().parent / "solara-assets"
    d.mkdir(parents=True, exist_ok=True)
    for target, source in ((d / plotly_bundle_name(), _plotly_bundle()), (d / FONT_FILE.name, FONT_FILE)):
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            tmp = d / f"{target.name}.{os.getpid()}.tmp"
            shutil.copyfile(source, tmp)
            tmp.replace(target)
    return d


def solara_environment(dashboard: str, workers: int = DEFAULT_WORKERS) -> dict[str, str]:
    """Environment for the Solara server process."""
    from ..i18n.fonts import FONT_SERVED_ENV
    from ..utils import WORKERS_ENV
    from ..voila import plotly_bundle_name

    env = dict(os.environ)
    env[DASHBOARD_ENV] = dashboard
    env[WORKERS_ENV] = str(workers)
    env[PLOTLY_BUNDLE_ENV] = ASSETS_URL + plotly_bundle_name()
    env["SOLARA_ASSETS_EXTRA_LOCATIONS"] = str(assets_dir())
    env[FONT_SERVED_ENV] = "1"  # the page serves the CJK font (solara_app._font_style): views need not carry it
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"  # no request off the machine, from the server either
    env["SOLARA_ASSETS_PROXY"] = "True"  # CDN files from solara-assets' local copy, served by the server
    env.setdefault("SOLARA_THEME_TITLE", f"diffviz · {dashboard}")
    env.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    return env


def solara_command(port: int = 8765, host: str = "127.0.0.1", extra: list[str] | None = None) -> list[str]:
    """The `solara run` command line for the app (production mode: no file watching, no reloads), through
    `solara_main` (static files compressed once, not per viewer)."""
    return [sys.executable, "-m", "diffviz.servers.solara_main", "run", APP_MODULE, f"--port={port}", f"--host={host}",
            "--production", "--no-open", "--no-check-version", "--log-level=warning", *(extra or [])]
