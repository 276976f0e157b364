"""Plotly figure builders for the widgets: plotting only, the numbers come from the core.

Each builder draws a static `go.Figure` and wraps it as a `FigureWidget` at the end: a
FigureWidget shown inside an ipywidgets Box renders only the traces it was constructed with
(traces added before display are lost in Voila), so traces are never added to a live widget;
views replace a figure to show new data (`replace_figure` closes the old one), or change an
existing trace or shape in place with `update_trace` / `move_marker` (one small restyle message
instead of a new plot per slider move).
"""
from __future__ import annotations

import colorsys
import copy
import itertools
import json
import os
import time

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import traitlets

from ..data.shapes import named_colour
from ..i18n.fonts import PLOTLY_STACK
from ..utils import PLOTLY_BUNDLE_ENV

# Under `diffviz dashboard` the page serves plotly's widget bundle as a file (see diffviz.voila);
# a chart's front end is then this stub, which imports that file (evaluated once per page) instead
# of carrying the 5 MB bundle in every chart's state.
_BUNDLE_STUB = """const config = JSON.parse(document.getElementById("jupyter-config-data")?.textContent || "{}");
const base = new URL(config.baseUrl || "/", location.href);
const bundle = await import(new URL(%s, base).href);
export default bundle.default;
"""


class ServedFigureWidget(go.FigureWidget):
    """A FigureWidget whose front end is the plotly bundle the dashboard server already serves.

    The stub must be the widget's `_esm` when its comm opens: a chart made after the page loaded
    (a new schedule, a new run) is created in the browser from that first message, and an empty
    module there is the "module must export a default function" error box.
    """

    _esm = traitlets.Unicode().tag(sync=True)

    @traitlets.default("_esm")
    def _served_stub(self):
        return _BUNDLE_STUB % json.dumps(os.environ.get(PLOTLY_BUNDLE_ENV, ""))


def _figure_widget(fig) -> go.FigureWidget:
    """The figure as a widget, its text in plotly's fonts with the CJK ones after them: plotly measures each
    legend entry and label in an off-page node the page's style sheets do not reach, so the family must be
    the figure's own, or Chinese text is measured narrower than it is drawn (the next legend entry then
    covers an entry's last character)."""
    if fig.layout.font.family is None:
        fig.update_layout(font_family=PLOTLY_STACK)
    return ServedFigureWidget(fig) if os.environ.get(PLOTLY_BUNDLE_ENV) else go.FigureWidget(fig)

from .i18n import tr

LAYOUT = dict(margin=dict(l=50, r=20, t=40, b=40), height=300, template="plotly_white")


def schedule_figure(curves: dict[str, list[float]], t_now: int) -> go.FigureWidget:
    """ᾱ_t, √ᾱ_t, √(1-ᾱ_t) on the left axis, SNR (log) on the right, the current t marked."""
    ts = curves["t"]
    fig = go.Figure(layout=dict(LAYOUT, title=tr("forward.schedule_title"), xaxis_title="t",
                                      yaxis=dict(title=tr("forward.amount"), range=[0, 1.02]),
                                      yaxis2=dict(title="SNR", type="log", overlaying="y", side="right", showgrid=False,
                                                  exponentformat="power", dtick=2),
                                      legend=dict(orientation="h", y=-0.25)))
    fig.add_scatter(x=ts, y=curves["alpha_bar"], name="ᾱ_t")
    fig.add_scatter(x=ts, y=curves["sqrt_alpha_bar"], name="√ᾱ_t (" + tr("forward.signal") + ")")
    fig.add_scatter(x=ts, y=curves["sqrt_one_minus_alpha_bar"], name="√(1−ᾱ_t) (" + tr("forward.noise") + ")")
    fig.add_scatter(x=ts, y=curves["snr"], name="SNR", yaxis="y2", line=dict(dash="dot"))
    fig.add_vline(x=t_now, line_color="crimson", line_width=2)
    return _figure_widget(fig)


def move_marker(fig: go.FigureWidget, t_now: int) -> None:
    """Move the vertical "current t" line in place (nothing is sent when it is already there: a chart
    just made with its line at t gets no message before its front end has loaded)."""
    if fig.layout.shapes[0].x0 == t_now:
        return
    with fig.batch_update():
        fig.layout.shapes[0].x0 = t_now
        fig.layout.shapes[0].x1 = t_now
    _keep_state(fig, layout=True)


def update_trace(fig: go.FigureWidget, index: int, **values) -> None:
    """Change one trace's values (e.g. a histogram's x) in place.

    Arrays go as plain lists: plotly's front end reads a restyled numpy array (sent as a binary
    buffer) as undefined ("Error setting state: Cannot read properties of undefined").
    """
    values = {k: np.asarray(v).tolist() if isinstance(v, (np.ndarray, np.generic)) else v for k, v in values.items()}
    with fig.batch_update():
        fig.data[index].update(**values)
    _keep_state(fig, data=True)


def _keep_state(fig: go.FigureWidget, data: bool = False, layout: bool = False) -> None:
    # A restyle/relayout reaches only views that exist now; the widget's saved state (what a view
    # made later gets — Voila's page, a re-display, a lazily built tab) is copied only at
    # construction or when displayed top-level. Keep it in step, as FigureWidget's own display does.
    # Plain lists only: the front end's state reader fails on numpy arrays sent as binary buffers inside
    # this state ("Error setting state: Cannot read properties of undefined (reading 'length')").
    if data:
        fig._widget_data = _plain(copy.deepcopy(fig._data))
    if layout:
        fig._widget_layout = _plain(copy.deepcopy(fig._layout_obj._props))


def _plain(value):
    """numpy arrays and scalars → lists and Python numbers, through dicts, lists and tuples."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def replace_figure(box: W.Box, old: go.FigureWidget | None, new: go.FigureWidget) -> go.FigureWidget:
    """Show `new` where `old` was in `box` (or at the end); `old` is closed one replacement later.

    A chart taken off the page can still send a last message or two from the browser (plotly reports
    its size and layout when its view goes away); closing it at once makes the kernel answer "No such
    comm" on stderr. So each box keeps what it retired for a while and closes it on a later replacement.
    """
    children = list(box.children)
    at = [i for i, c in enumerate(children) if c is old]
    if at:
        children[at[0]] = new
    else:
        children.append(new)
    box.children = children
    retire(box, old if old is not new else None)
    return new


RETIRE_AFTER_S = 10.0


def swap(box: W.Box, children) -> None:
    """Show `children` in `box` instead of what it showed; the old widgets (pictures, grids, charts) are
    closed one replacement later (see `retire`), so a view redrawn on every slider move does not keep
    every picture it ever drew alive in the kernel."""
    old = [c for c in box.children if all(c is not n for n in children)]
    box.children = list(children)
    retire(box, old)


def _close_tree(w) -> None:
    """Close a widget and everything inside it (a labelled grid: its boxes, captions and pictures)."""
    for child in getattr(w, "children", ()) or ():
        _close_tree(child)
    w.close()


def retire(box: W.Box, widgets) -> None:
    """Keep `widgets` (a widget or several, just taken off the page) for a while, and close the ones
    retired from `box` more than RETIRE_AFTER_S ago (boxes with their children: a labelled grid's pictures)."""
    now = time.monotonic()
    keep = []
    for when, w in getattr(box, "_dv_retired", []):
        if now - when < RETIRE_AFTER_S:
            keep.append((when, w))
            continue
        _close_tree(w)
    new = [w for w in (widgets if isinstance(widgets, (list, tuple)) else [widgets]) if w is not None]
    box._dv_retired = keep + [(now, w) for w in new]


def histogram_figure(values: np.ndarray) -> go.FigureWidget:
    """Pixel histogram of x_t against the N(0, 1) density it tends to."""
    xs = np.linspace(-4, 4, 200)
    fig = go.Figure(layout=dict(LAYOUT, title=tr("forward.histogram_title"), xaxis=dict(range=[-4, 4]), bargap=0.02,
                                      showlegend=True, legend=dict(orientation="h", y=-0.25)))
    fig.add_histogram(x=values, histnorm="probability density", nbinsx=60, name="x_t", xbins=dict(start=-4, end=4, size=0.1))
    fig.add_scatter(x=xs, y=np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), name="N(0, 1)", line=dict(color="black"))
    return _figure_widget(fig)


def heatmap_figure(matrix: np.ndarray, rows: list, cols: list, title: str, cosine: bool = True) -> go.FigureWidget:
    """A matrix as a heatmap; cosine similarities get a fixed [-1, 1] scale and values printed to 2 decimals.

    Values go as Python floats (a float32 0.86 would print as 0.8600000143051147)."""
    z = np.asarray(matrix, dtype=np.float64).round(6).tolist()
    extra = dict(zmin=-1, zmax=1, texttemplate="%{z:.2f}", hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>",
                 colorscale="Viridis") if cosine else dict(colorscale="RdBu", zmid=0)
    return _figure_widget(go.Figure(go.Heatmap(z=z, x=list(cols), y=list(rows), **extra),
                          layout=dict(LAYOUT, title=title, height=max(300, 40 * len(rows) + 120),
                                      yaxis=dict(autorange="reversed"))))


# One colour per image set in every FID chart (the views and the exported page alike): the real images,
# the generated ones and the real-vs-real floor.
SET_COLOURS = {"real": "#37474f", "generated": "#00897b", "floor": "#9e9e9e"}
DASHES = ("solid", "dash", "dot", "dashdot")
HUE_GAP = 25  # degrees: a palette colour this near a colour a series names is left out (two "reds" would mislead)


def _hue(colour: str) -> float | None:
    """Hue in degrees of a "#rrggbb" colour; None for a grey (no hue to confuse)."""
    h, s, _ = colorsys.rgb_to_hsv(*(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    return h * 360 if s >= 0.25 else None


def near_hue(a: str, b: str) -> bool:
    """Whether two "#rrggbb" colours read as one hue (within HUE_GAP degrees; greys are near nothing)."""
    ha, hb = _hue(a), _hue(b)
    return ha is not None and hb is not None and min(abs(ha - hb), 360 - abs(ha - hb)) < HUE_GAP


def series_styles(names, colours: dict[str, str] | None = None) -> list[dict]:
    """A line style (color, dash) per series: `colours[name]` where given, else the colour the name names (a prompt:
    a prompt naming red is drawn in the red the shapes model draws), else the next palette colour near none of those.
    A colour drawn twice (two prompts naming red) gets another dash."""
    import plotly.colors

    palette = [c.lower() for c in plotly.colors.qualitative.Plotly]
    chosen = [(colours or {}).get(n) or named_colour(n) for n in names]
    free = [c for c in palette if not any(near_hue(c, t) for t in chosen if t)] or palette
    spare = itertools.cycle(free)
    styles, drawn = [], {}
    for colour in chosen:
        colour = colour or next(spare)
        styles.append(dict(color=colour, dash=DASHES[drawn.get(colour, 0) % len(DASHES)]))
        drawn[colour] = drawn.get(colour, 0) + 1
    return styles


def _floats(values) -> list:
    return np.asarray(values, dtype=np.float64).tolist()


def line_figure(x, ys: dict[str, list[float]], title: str, xaxis: str, yaxis: str, bands: dict | None = None,
                hline: tuple[float, str] | None = None, width: int | None = None,
                legend_below: bool = False, right: str | None = None,
                colours: dict[str, str] | None = None) -> go.FigureWidget:
    """Lines with markers, styled by `series_styles` (a prompt's line in its prompt's colour; `colours`: fixed
    colours by series name); a series' ± band (bands[name]) is drawn in the series' own colour.

    right: the name of a series measured in other units (FID beside a CLIP score), drawn against its own
    axis on the right, titled with its name, so neither scale flattens the other."""
    layout = dict(LAYOUT, title=title, xaxis_title=xaxis, yaxis_title=yaxis)
    if right is not None and right in ys:
        layout["yaxis2"] = dict(title=right, overlaying="y", side="right", showgrid=False)
    if width:
        layout["width"] = width
    if legend_below:
        layout["legend"] = dict(orientation="h", y=-0.3)
    fig = go.Figure(layout=layout)
    x = list(x)
    for (name, y), style in zip(ys.items(), series_styles(ys, colours)):
        colour = style["color"]
        if bands and name in bands:
            lo = np.asarray(y, dtype=np.float64) - np.asarray(bands[name], dtype=np.float64)
            hi = np.asarray(y, dtype=np.float64) + np.asarray(bands[name], dtype=np.float64)
            fig.add_scatter(x=x + x[::-1], y=_floats(hi) + _floats(lo)[::-1], mode="lines", fill="toself", opacity=0.2,
                            fillcolor=colour, line=dict(width=0), showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=x, y=_floats(y), name=name, mode="lines+markers", line=style,
                        yaxis="y2" if name == right and "yaxis2" in layout else "y")
    if hline is not None:
        fig.add_hline(y=float(hline[0]), line_dash="dot", annotation_text=hline[1], annotation_position="top left")
    return _figure_widget(fig)


def scatter_figure(groups: dict[str, np.ndarray], title: str, outlines: dict[str, tuple] | None = None,
                   pairs: tuple[np.ndarray, np.ndarray] | None = None, labels: dict[str, list[str]] | None = None,
                   width: int | None = None, colours: dict[str, str] | None = None) -> go.FigureWidget:
    """2-D points per group (coloured as `line_figure`'s series), optional outlines (x, y) per group (e.g. fitted
    Gaussians, in the group's colour) and lines between paired points."""
    layout = dict(LAYOUT, title=title, height=420, xaxis=dict(scaleanchor="y"), legend=dict(orientation="h", y=-0.15))
    if width:
        layout["width"] = width
    fig = go.Figure(layout=layout)
    if pairs is not None:
        a, b = pairs
        xs, ys = [], []
        for p, q in zip(a, b):
            xs += [float(p[0]), float(q[0]), None]
            ys += [float(p[1]), float(q[1]), None]
        fig.add_scatter(x=xs, y=ys, mode="lines", line=dict(color="#bbb", width=1), showlegend=False, hoverinfo="skip")
    for (name, pts), style in zip(groups.items(), series_styles(groups, colours)):
        pts = np.asarray(pts, dtype=float)
        fig.add_scatter(x=pts[:, 0].tolist(), y=pts[:, 1].tolist(), mode="markers", name=name,
                        marker=dict(size=7, opacity=0.8, color=style["color"]), text=(labels or {}).get(name),
                        hoverinfo="text+name" if labels and name in labels else "x+y+name")
        if outlines and name in outlines:
            ex, ey = outlines[name]
            fig.add_scatter(x=np.asarray(ex, dtype=float).tolist(), y=np.asarray(ey, dtype=float).tolist(),
                            mode="lines", name=f"{name}: 2σ Gaussian", line=dict(dash="dash", color=style["color"]))
    return _figure_widget(fig)


def fid_figures(report, width: int | None = None) -> tuple[go.FigureWidget, go.FigureWidget]:
    """The FID view's and the exported page's two charts of a `FidReport`, one colour per set in both: FID vs N
    (generated against the real-vs-real floor, ±1σ bands, the FID∞ intercept) and both feature sets on their
    two principal axes with the fitted Gaussians."""
    gen, floor = tr("fid.generated_curve"), tr("fid.floor_curve")
    inf = report.curve.fid_inf
    hline = (inf, f"FID∞ ≈ {inf:.2f}") if inf >= 0 else None  # a negative intercept: the 1/N fit does not hold
    curve = line_figure(report.curve.n, {gen: report.curve.mean, floor: report.floor_curve.mean}, tr("fid.curve_title"),
                        "N", "FID", bands={gen: report.curve.std, floor: report.floor_curve.std}, hline=hline, width=width,
                        legend_below=True, colours={gen: SET_COLOURS["generated"], floor: SET_COLOURS["floor"]})
    names = {"real": tr("fid.real"), "generated": tr("fid.generated")}
    projected = report.projection()
    space = scatter_figure({names[k]: pts for k, (pts, _) in projected.items()}, tr("fid.space_title"),
                           outlines={names[k]: outline for k, (_, outline) in projected.items()}, width=width,
                           colours={names[k]: SET_COLOURS[k] for k in names})
    return curve, space
