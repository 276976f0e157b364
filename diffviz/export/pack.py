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

import plotly.graph_objects as go

from ..i18n.fonts import font_css, is_cjk
from ..frames import pack_frames
from ..widgets.player import STATIC
from ..errors import InputTypeError

PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}}
section{{margin:28px 0;border-top:1px solid #ddd;padding-top:12px}} .text{{max-width:56em}}
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
document.body.dataset.ready = "1";
</script></body></html>
"""


@dataclass
class Section:
    """One part of the page: a title, a paragraph, optional players and plotly figures."""

    title: str
    text: str = ""
    players: list[dict] = field(default_factory=list)  # each: {"rows": {...}, "step_labels": [...], "zoom": 4}
    figures: list[go.Figure] = field(default_factory=list)


def _player_html(spec: dict, labels: dict) -> str:
    data, layout = pack_frames(spec["rows"])
    state = {"frames_b64": base64.b64encode(data).decode("ascii"), "frame_layout": layout, "step": spec.get("step", 0),
             "fps": 8, "zoom": spec.get("zoom", 4), "playing": False, "sync_step": False,
             "step_labels": list(spec.get("step_labels") or []), "column_labels": list(spec.get("column_labels") or []),
             "labels": labels}
    return ('<div class="dv-export-player"><script type="application/json">'
            + json.dumps(state).replace("</", "<\\/") + "</script></div>")


def export_html(path: str | Path, sections: list[Section], title: str = "diffviz lecture", intro: str = "",
                lang: str = "en") -> Path:
    """Write the page; returns its path. Everything it needs is inside the file."""
    from plotly.offline import get_plotlyjs

    from ..i18n import labels_for

    labels = labels_for("player", lang)
    for sec in sections:
        if not isinstance(sec, Section):
            raise InputTypeError(f"sections must be diffviz.export.Section objects, got {type(sec).__name__}")
        for spec in sec.players:
            if not isinstance(spec, dict) or "rows" not in spec:
                raise InputTypeError(f"each player of section {sec.title!r} must be a dict with 'rows' "
                                "({row label: uint8 (S, B, H, W, 3)}), optional 'step_labels', 'zoom', 'step'")
    parts = []
    for sec in sections:
        body = [f"<section><h2>{html.escape(sec.title)}</h2>"]
        if sec.text:
            body.append(f'<p class="text">{sec.text}</p>')
        body += [_player_html(p, labels) for p in sec.players]
        body += [fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}) for fig in sec.figures]
        body.append("</section>")
        parts.append("\n".join(body))
    body = "\n".join(parts) + title + intro + json.dumps(labels, ensure_ascii=False)
    # Chinese text renders on a machine with no CJK font: the shipped subset font, inlined (about 200 KB).
    cjk = font_css() if lang == "zh" or any(is_cjk(c) for c in body) else ""
    page = PAGE.format(lang=lang, title=html.escape(title), intro=intro, css=(STATIC / "player.css").read_text(),
                       font_css=cjk,
                       plotly=get_plotlyjs(), player_js=json.dumps((STATIC / "player.js").read_text()),
                       sections="\n".join(parts))
    from ..utils import atomic_write

    return atomic_write(path, page)
