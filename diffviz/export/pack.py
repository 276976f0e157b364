"""A self-contained offline lecture page: one HTML file, no kernel, no CDN, works from file://.

ipywidgets' `embed_minimal_html` loads require.js and the widget manager from CDNs (blank
offline), so the export is diffviz's own: plotly.js and the FramePlayer module are inlined, and
each player's frames are embedded as base64 bytes. The same `player.js` runs here with a tiny
model shim (`get`, `set`, `on`, `save_changes`) in place of the kernel.
"""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

from ..i18n.fonts import font_css, is_cjk
from ..frames import pack_frames
from ..widgets.player import STATIC, player_module
from ..errors import InputTypeError

PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222;line-height:1.45}}
*{{box-sizing:border-box}} img,svg,canvas{{max-width:100%}}
section{{margin:28px 0;border-top:1px solid #ddd;padding-top:12px}} .text,section p{{max-width:56em}}
.small{{color:#555;font-size:13px}} nav ol{{columns:2;max-width:56em}}
.dv-notice-box{{max-width:56em;margin:0 0 10px;padding:6px 10px;border-left:4px solid #3f7ad6;background:#f3f7fd}}
.dv-pictures{{display:grid;gap:10px 12px;align-items:end;margin:6px 0 12px;max-width:100%}}
.dv-pictures figure{{margin:0;text-align:center;min-width:0}}
.dv-pictures figcaption{{font-weight:600;font-size:13px;line-height:1.25;overflow-wrap:anywhere;margin-bottom:2px}}
.dv-pictures img{{image-rendering:pixelated;height:auto;border:1px solid #ccc}}
.dv-charts{{display:flex;flex-wrap:wrap;gap:8px;max-width:100%}} .dv-chart{{flex:1 1 460px;min-width:0;max-width:100%}}
{css}
{font_css}</style>
<script>{plotly}</script></head>
<body><h1>{title}</h1><p class="text">{intro}</p>
{sections}
<script type="module">
const code = {player_js};
const url = URL.createObjectURL(new Blob([code], {{type: "text/javascript"}}));
const mod = await import(url);
function shim(state) {{
  const handlers = {{}};
  return {{
    get: (k) => state[k],
    set: (k, v) => {{ state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); }},
    on: (ev, f) => {{ (handlers[ev] = handlers[ev] || []).push(f); }},
    off: () => {{}}, save_changes: () => {{}},
  }};
}}
for (const node of document.querySelectorAll(".dv-export-player")) {{
  const state = JSON.parse(node.querySelector("script[type='application/json']").textContent);
  const raw = atob(state.frames_b64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  state.frames = bytes;
  const target = document.createElement("div");
  node.appendChild(target);
  mod.default.render({{ model: shim(state), el: target }});
}}
// Each chart was drawn as soon as its div was parsed, when the flex row beside it was still one chart
// wide; now that the page is laid out, fit each to its own box (plotly's "responsive" follows window resizes only).
if (window.Plotly) await Promise.all([...document.querySelectorAll(".js-plotly-plot")].map((g) => Plotly.Plots.resize(g)));
// Chromium can keep the first CJK text it shaped before the inlined font was decoded as empty boxes
// (font-display: swap does not reshape it); once the fonts are ready, restyle the page once.
await document.fonts.ready;
document.body.style.fontSynthesis = "none";
void document.body.offsetWidth;
document.body.style.fontSynthesis = "";
document.body.dataset.ready = "1";
</script></body></html>
"""


@dataclass
class Section:
    """One part of the page: a title, a paragraph, optional players and plotly figures."""

    title: str
    text: str = ""
    players: list[dict] = field(default_factory=list)  # each: {"rows": {...}, "step_labels": [...], "zoom": 4}
    figures: list[go.Figure] = field(default_factory=list)  # side by side where the page is wide enough
    notice: str = ""  # the "what to notice" lines (HTML allowed)
    key: str = ""  # the section's anchor (#key) in the page's contents
    parts: list = field(default_factory=list)  # HTML strings and figures, in order, between players and figures
    after: str = ""  # HTML under the figures


def picture_grid(items: list[tuple[str, np.ndarray]], size: int = 128, columns: int | None = None) -> str:
    """Captioned pictures (uint8 (H, W, 3)) in a grid of equal cells, each about `size` px wide (at least
    `size`, crisp: stored at their own size, scaled by the page); wraps when the page is narrow."""
    from ..widgets.base import png_bytes, zoom_for

    shown = [img.shape[1] * zoom_for(img.shape[1], size) for _, img in items]
    cell = max([112] + shown)
    cells = [f'<figure><figcaption>{html.escape(label)}</figcaption><img alt="{html.escape(label)}" '
             f'width="{w}" height="{round(img.shape[0] * w / img.shape[1])}" src="data:image/png;base64,'
             f'{base64.b64encode(png_bytes(img)).decode("ascii")}"></figure>'
             for (label, img), w in zip(items, shown)]
    cols = f"repeat({columns}, minmax(0, {cell}px))" if columns else f"repeat(auto-fill, minmax(min({cell}px, 100%), {cell}px))"
    return f'<div class="dv-pictures" style="grid-template-columns:{cols}">{"".join(cells)}</div>'


CHART_CONFIG = {"displaylogo": False, "responsive": True}


def _figure_html(fig) -> str:
    fig = go.Figure(fig)  # a FigureWidget from the views' chart builders, as a plain figure
    fig.layout.width = None  # fill its box: never wider than the page
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, config=CHART_CONFIG)


def _player_html(spec: dict, labels: dict) -> str:
    from ..widgets.base import zoom_for

    data, layout = pack_frames(spec["rows"])
    widest = max([r["width"] for r in layout["rows"]] or [32])
    state = {"frames_b64": base64.b64encode(data).decode("ascii"), "frame_layout": layout, "step": spec.get("step", 0),
             "fps": 8, "zoom": spec.get("zoom") or zoom_for(widest), "playing": False, "sync_step": False,
             "step_labels": list(spec.get("step_labels") or []), "column_labels": list(spec.get("column_labels") or []),
             "labels": labels}
    return ('<div class="dv-export-player"><script type="application/json">'
            + json.dumps(state).replace("</", "<\\/") + "</script></div>")


def export_html(path: str | Path, sections: list[Section], title: str = "diffviz lecture", intro: str = "",
                lang: str = "en") -> Path:
    """Write the page; returns its path. Everything it needs is inside the file."""
    from plotly.offline import get_plotlyjs

    from ..i18n import labels_for, tr

    labels = labels_for("player", lang)
    for sec in sections:
        if not isinstance(sec, Section):
            raise InputTypeError(f"sections must be diffviz.export.Section objects, got {type(sec).__name__}")
        for spec in sec.players:
            if not isinstance(spec, dict) or "rows" not in spec:
                raise InputTypeError(f"each player of section {sec.title!r} must be a dict with 'rows' "
                                "({row label: uint8 (S, B, H, W, 3)}), optional 'step_labels', 'zoom', 'step'")
    parts = []
    keyed = [sec for sec in sections if sec.key]
    if len(keyed) > 1:
        parts.append(f"<nav><b>{html.escape(tr('export.contents', lang))}</b><ol>" + "".join(
            f'<li><a href="#{html.escape(sec.key)}">{html.escape(sec.title)}</a></li>' for sec in keyed) + "</ol></nav>")
    for sec in sections:
        anchor = f' id="{html.escape(sec.key)}"' if sec.key else ""
        body = [f"<section{anchor}><h2>{html.escape(sec.title)}</h2>"]
        if sec.text:
            body.append(f'<p class="text">{sec.text}</p>')
        if sec.notice:
            body.append(f'<div class="dv-notice-box"><b>{html.escape(tr("common.notice", lang))}</b> {sec.notice}</div>')
        body += [_player_html(p, labels) for p in sec.players]
        body += [_figure_html(p) if isinstance(p, BaseFigure) else p for p in sec.parts]
        if sec.figures:
            body.append('<div class="dv-charts">' + "".join(
                f'<div class="dv-chart">{_figure_html(fig)}</div>' for fig in sec.figures) + "</div>")
        if sec.after:
            body.append(sec.after)
        body.append("</section>")
        parts.append("\n".join(body))
    body = "\n".join(parts) + title + intro + json.dumps(labels, ensure_ascii=False)
    # Chinese text renders on a machine with no CJK font: the shipped subset font, inlined (about 200 KB).
    cjk = font_css() if lang == "zh" or any(is_cjk(c) for c in body) else ""
    page = PAGE.format(lang=lang, title=html.escape(title), intro=intro, css=(STATIC / "player.css").read_text(),
                       font_css=cjk,
                       plotly=get_plotlyjs(), player_js=json.dumps(player_module()),
                       sections="\n".join(parts))
    from ..utils import atomic_write

    return atomic_write(path, page)
