"""The Solara app behind `diffviz dashboard NAME --server solara`: one dashboard, many viewers, one process.

Solara imports this module once; `Page` renders once per viewer (a virtual kernel) and builds that
viewer's own widgets by running the dashboard's code cells. Everything heavy is shared by the
process: the imports, the models (`default_model`, loaded once under a lock), the worker pool and the
trajectory cache. The dashboard comes from DIFFVIZ_SOLARA_DASHBOARD (a name in `diffviz dashboard --list`).
"""
from __future__ import annotations

import ast
import html
import os
import re
import warnings

import ipywidgets as W
import solara

from ..content import dashboard_names, dashboards_dir
from ..widgets.base import worker_count
from . import DASHBOARD_ENV


def _threads() -> None:
    """Split the machine's cores between the worker threads (each sampling call uses its share)."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // worker_count()))


def _markdown(text: str) -> W.HTML:
    try:
        import markdown  # a dependency of solara-ui

        body = markdown.markdown(text)
    except ImportError:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    return W.HTML(f"<div class='dv-markdown' style='max-width:60em'>{body}</div>")


def read_dashboard(name: str) -> list[tuple[str, str]]:
    """The dashboard's cells as (kind, source), kind 'markdown' or 'code'."""
    import json

    if name not in dashboard_names():
        raise ValueError(f"unknown dashboard {name!r}; available: {', '.join(dashboard_names())}")
    nb = json.loads((dashboards_dir() / f"{name}.ipynb").read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"] if c["cell_type"] in ("markdown", "code")]


def run_cells(cells: list[tuple[str, str]]) -> list[W.Widget]:
    """What the dashboard shows, for one viewer: its markdown, and the value of each code cell's last
    expression (as Voila shows it), each cell run in a namespace of this viewer's own."""
    namespace: dict = {"__name__": "__diffviz_dashboard__"}
    shown: list[W.Widget] = []
    for kind, source in cells:
        if kind == "markdown":
            shown.append(_markdown(source))
            continue
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "<dashboard>", "exec"), namespace)  # noqa: S102 - the package's own dashboards
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<dashboard>", "eval"), namespace)  # noqa: S307
            if isinstance(value, W.Widget):
                shown.append(value)
            elif value is not None:
                shown.append(W.HTML(f"<pre>{html.escape(repr(value))}</pre>"))
    return shown


def _font_style() -> W.HTML:
    """The CJK subset font and font stacks (as Voila's template and the static export have them): the
    dashboards' Chinese lines and a zh page would be boxes on a machine with no CJK font. The font is a
    file the server serves (`assets_dir`), fetched once by each browser, not 240 KB in every viewer's
    websocket."""
    from ..i18n.fonts import FONT_FILE, font_css
    from . import PAGE_ASSETS_URL

    return W.HTML(f"<style>{font_css(PAGE_ASSETS_URL + FONT_FILE.name)}</style>", layout=W.Layout(display="none"))


def presenter_requested(search: str | None) -> bool:
    """`?presenter=1` (or true/on/yes) in the page's address: presenter mode for this viewer, as in Voila."""
    return bool(re.search(r"(^|[?&])presenter=(1|true|on|yes)(&|$)", search or ""))


# plain http on a hall's network: Solara says so for every page load; once in the docs is enough
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
NAME = os.environ.get(DASHBOARD_ENV) or "explainer"
CELLS = read_dashboard(NAME)
_threads()


@solara.component
def Page():
    solara.Title(f"diffviz · {NAME}")
    parts = solara.use_memo(lambda: run_cells(CELLS), dependencies=[])
    # Presenter mode per viewer: the projector's page asks for it in its address, the students' pages do not.
    # views.css zooms what is inside a .dv-presenter box (Voila's template puts the class on <body> instead).
    on = presenter_requested(solara.use_router().search)
    with solara.Column(style={"padding": "8px 16px", "max-width": "100%"}, classes=["dv-presenter"] if on else []):
        solara.display(_font_style())
        for part in parts:
            solara.display(part)
