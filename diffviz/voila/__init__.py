"""Serving the dashboards with Voila in a lecture hall with no internet.

Voila's stock `lab` template loads Font Awesome from a CDN. `install_template()` writes a
`diffviz` template — Voila's own `lab` template with those two links pointing at a local copy of
Font Awesome (from the `fontawesomefree` package) — into diffviz's cache, so the served page makes
no request off the machine. `voila_command()` builds the command line with the hardened settings
(sources stripped, no tracebacks, preheated kernels, idle kernels culled).

The template also serves plotly's FigureWidget front end (5 MB of JavaScript) as one static file.
A stock FigureWidget carries that bundle in its own widget state, so every chart sent 5 MB over the
websocket and evaluated it again; kernels started by `voila_environment()` get PLOTLY_BUNDLE_ENV
and their charts load the served file instead: once per page, cached by the browser.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from ..utils import PLOTLY_BUNDLE_ENV

TEMPLATE = "diffviz"
# Settings for lecture serving; also in dashboards/voila.json for people who run `voila` themselves.
VOILA_SETTINGS = {
    "VoilaConfiguration.template": TEMPLATE,
    "VoilaConfiguration.strip_sources": True,
    "VoilaConfiguration.show_tracebacks": False,
    "VoilaConfiguration.preheat_kernel": True,
    "MappingKernelManager.cull_idle_timeout": 120,
    "MappingKernelManager.cull_interval": 30,
    "MappingKernelManager.cull_connected": False,
}
# Only the labextensions the widgets need reach the page (a broken one, e.g. jupytext's, must not).
# Plotly 7's FigureWidget is an anywidget; jupyterlab-plotly (4.7 MB) only renders `fig.show()` outputs,
# which the dashboards do not use.
EXTENSIONS = ["@voila-dashboards/widgets-manager8", "@jupyter-widgets/jupyterlab-manager", "anywidget"]


PRESENTER_SCRIPT = ("<script>if (/[?&]presenter=(1|true|on|yes)(&|$)/.test(location.search)) "
                    "document.body.classList.add('dv-presenter');</script>")


def data_dir() -> Path:
    return Path(os.environ.get("DIFFVIZ_CACHE", Path.home() / ".cache" / "diffviz")) / "jupyter"


def _voila_share() -> Path:
    import voila.paths

    for base in voila.paths.jupyter_path("voila", "templates"):
        if (Path(base) / "lab" / "index.html.j2").is_file():
            return Path(base)
    raise FileNotFoundError("Voila's lab template was not found; is voila installed in this environment?")


def install_template(dest: Path | None = None) -> Path:
    """Write the offline `diffviz` Voila template under `dest` (a Jupyter data dir); return `dest`."""
    import fontawesomefree

    dest = Path(dest) if dest else data_dir()
    target = dest / "voila" / "templates" / TEMPLATE
    lab = _voila_share() / "lab"
    fa = Path(fontawesomefree.__file__).parent / "static" / "fontawesomefree"
    tmp = target.with_name(TEMPLATE + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(lab, tmp)
    (tmp / "conf.json").write_text('{"base_template": "lab", "mimetypes": {"text/html": true}}\n')
    static = tmp / "static" / "fontawesome"
    shutil.copytree(fa / "css", static / "css")
    shutil.copytree(fa / "webfonts", static / "webfonts")
    index = (tmp / "index.html.j2").read_text()
    local = "{{resources.base_url}}voila/templates/" + TEMPLATE + "/static/fontawesome/css/"
    index, n = re.subn(r"https://cdn\.jsdelivr\.net/npm/@fortawesome/fontawesome-free@[^/]+/css/", local, index)
    if n == 0 and "cdn." in index:
        raise RuntimeError("Voila's lab template changed: could not replace its Font Awesome CDN links")
    # `?presenter=1` in a dashboard's URL: bigger pictures and text for a projector (views.css)
    index, n = re.subn(r"(\{\{ spinner\.html\(\) \}\})", PRESENTER_SCRIPT + r"\n\1", index, count=1)
    if n == 0:
        raise RuntimeError("Voila's lab template changed: could not add the presenter switch")
    (tmp / "index.html.j2").write_text(index)
    shutil.copyfile(_plotly_bundle(), tmp / "static" / plotly_bundle_name())
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return dest


def _plotly_bundle() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


def plotly_bundle_name() -> str:
    import plotly

    return f"plotly-widgetbundle-{plotly.__version__}.js"  # versioned: a browser cache never serves a stale one


def voila_environment() -> dict[str, str]:
    """Environment for the Voila process and its kernels: our template directory first on JUPYTER_PATH,
    and the served plotly bundle's path for the charts."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(install_template()), env.get("JUPYTER_PATH", "")) if p)
    env[PLOTLY_BUNDLE_ENV] = f"voila/templates/{TEMPLATE}/static/{plotly_bundle_name()}"
    return env


def voila_command(notebook: str | Path, port: int = 8866, host: str = "127.0.0.1", preheat: bool = True,
                  extra: list[str] | None = None, settings: dict | None = None) -> list[str]:
    """The Voila command line; `settings` override entries of VOILA_SETTINGS (each given once)."""
    args = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}"]
    merged = {**VOILA_SETTINGS, "VoilaConfiguration.preheat_kernel": preheat, **(settings or {})}
    for key, value in merged.items():
        args.append(f"--{key}={value}")
    args += [f"--VoilaConfiguration.extension_allowlist={name}" for name in EXTENSIONS]
    args.append(f"--Voila.ip={host}")
    return args + list(extra or [])
