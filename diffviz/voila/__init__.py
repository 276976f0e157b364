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

from ..i18n.fonts import FONT_FILE as CJK_FONT, FONT_SERVED_ENV, font_css
from ..errors import MissingFileError

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
    # a cap on live kernels (diffviz.voila.kernels): a burst of page loads cannot exhaust the memory
    "VoilaConfiguration.multi_kernel_manager_class": "diffviz.voila.kernels.CappedKernelManager",
}
# Only the labextensions the widgets need reach the page (a broken one, e.g. jupytext's, must not).
# Plotly 7's FigureWidget is an anywidget; jupyterlab-plotly (4.7 MB) only renders `fig.show()` outputs,
# which the dashboards do not use.
EXTENSIONS = ["@voila-dashboards/widgets-manager8", "@jupyter-widgets/jupyterlab-manager", "anywidget"]


PRESENTER_SCRIPT = ("<script>if (/[?&]presenter=(1|true|on|yes)(&|$)/.test(location.search)) "
                    "document.body.classList.add('dv-presenter');</script>")


FULL_PAGE = """{% extends "error.html" %}
{% block error_detail %}{% for line in message.split(" / ") %}
<p style="max-width:40em;margin:1em auto;line-height:1.5">{{ line }}</p>{% endfor %}{% endblock %}
"""


def data_dir() -> Path:
    return Path(os.environ.get("DIFFVIZ_CACHE", Path.home() / ".cache" / "diffviz")) / "jupyter"


def _voila_share() -> Path:
    import voila.paths

    for base in voila.paths.jupyter_path("voila", "templates"):
        if (Path(base) / "lab" / "index.html.j2").is_file():
            return Path(base)
    raise MissingFileError("Voila's lab template was not found; is voila installed in this environment?")


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
    # The CJK subset font (diffviz.i18n.fonts): Chinese labels render on a machine with no CJK font.
    shutil.copytree(CJK_FONT.parent, tmp / "static" / "fonts")
    font_url = "{{resources.base_url}}voila/templates/" + TEMPLATE + "/static/fonts/" + CJK_FONT.name
    # loaded at once, before any widget draws text: text drawn while the font was still on its way stayed boxes
    style = ("<style>" + font_css(font_url) + "</style>\n"
             "<script>document.fonts && document.fonts.load('16px \"diffviz CJK\"', '\u4e2d');</script>\n")
    index, n = re.subn(r"\{\{ spinner\.html\(\) \}\}", lambda m: style + m.group(0), index, count=1)
    if n == 0:
        raise RuntimeError("Voila's lab template changed: could not add the CJK font")
    (tmp / "index.html.j2").write_text(index)
    shutil.copyfile(_plotly_bundle(), tmp / "static" / plotly_bundle_name())
    (tmp / "503.html").write_text(FULL_PAGE)  # the kernel cap's "dashboard full" page says why (kernels.py)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return dest


def _plotly_bundle() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


def plotly_bundle_name() -> str:
    import plotly

    return f"plotly-widgetbundle-{plotly.__version__}.js"  # versioned: a browser cache never serves a stale one


def kernel_threads() -> int:
    """torch threads per kernel when many kernels share the machine: a quarter of the cores, at least 1."""
    return max(1, (os.cpu_count() or 1) // 4)


def voila_environment() -> dict[str, str]:
    """Environment for the Voila process and its kernels: our template directory first on JUPYTER_PATH,
    the served plotly bundle's path for the charts, and OMP_NUM_THREADS (unless set) sized for many kernels."""
    from ..utils import PLOTLY_BUNDLE_ENV  # here, not at the top: the Voila server imports this package (kernels.py)

    env = dict(os.environ)
    # many kernels share the cores: a kernel with as many torch threads as cores stalls the others
    env.setdefault("OMP_NUM_THREADS", str(kernel_threads()))
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(install_template()), env.get("JUPYTER_PATH", "")) if p)
    env[PLOTLY_BUNDLE_ENV] = f"voila/templates/{TEMPLATE}/static/{plotly_bundle_name()}"
    env[FONT_SERVED_ENV] = "1"  # the template serves the CJK font: views need not carry it (widgets/base.py)
    return env


def voila_command(notebook: str | Path, port: int = 8866, host: str = "127.0.0.1", preheat: bool = True,
                  extra: list[str] | None = None, settings: dict | None = None,
                  max_kernels: int | None = None) -> list[str]:
    """The Voila command line; `settings` override entries of VOILA_SETTINGS (each given once).
    max_kernels: most live kernels (None: what the machine's memory holds, see diffviz.voila.kernels)."""
    args = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}"]
    merged = {**VOILA_SETTINGS, "VoilaConfiguration.preheat_kernel": preheat, **(settings or {})}
    if max_kernels is not None:
        merged["CappedKernelManager.max_kernels"] = int(max_kernels)
    for key, value in merged.items():
        args.append(f"--{key}={value}")
    args += [f"--VoilaConfiguration.extension_allowlist={name}" for name in EXTENSIONS]
    args.append(f"--Voila.ip={host}")
    return args + list(extra or [])
