"""The CJK webfont diffviz ships, and the CSS that serves it (Voila template, static export, views).

Chinese labels render as empty boxes on a machine with no CJK font, and an offline page cannot
fetch one. `diffviz-cjk.woff2` is a small subset of Noto Sans CJK SC (SIL OFL 1.1, see OFL.txt
beside it) with exactly the characters diffviz's Chinese text uses (`build_font.py` rebuilds it).
Every font stack lists the system's own fonts first and this one last, so a machine that has a
CJK font uses its own and English text never changes.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

FONT_FILE = Path(__file__).resolve().parent.parent / "widgets" / "static" / "fonts" / "diffviz-cjk.woff2"
FAMILY = "diffviz CJK"
# The same font inlined in the views' own style sheet (`view_font_css`), under its own name: on a page that
# serves FAMILY too (Voila), a second face of one family added while text waits for the first left that
# text drawn as boxes in Chromium; two names never touch each other's faces.
INLINE_FAMILY = "diffviz CJK inline"
# Set in the kernels of diffviz's Voila template, which serves the font itself: views then carry no copy.
FONT_SERVED_ENV = "DIFFVIZ_CJK_FONT_SERVED"
# JupyterLab's / ipywidgets' UI stack, the common system CJK fonts, then ours (each glyph: first font that has it).
FONT_STACK = ('system-ui, -apple-system, blinkmacsystemfont, "Segoe UI", helvetica, arial, '
              '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", '
              f'"Source Han Sans SC", "WenQuanYi Micro Hei", "{FAMILY}", "{INLINE_FAMILY}", sans-serif, '
              '"Apple Color Emoji", "Segoe UI Emoji", "Segoe UI Symbol"')
# plotly draws SVG text with an inline font-family; ours is appended to its default.
PLOTLY_STACK = f'"Open Sans", verdana, arial, "{FAMILY}", "{INLINE_FAMILY}", sans-serif'


def is_cjk(ch: str) -> bool:
    """Characters a machine without a CJK font lacks: CJK ideographs, CJK and full-width punctuation."""
    o = ord(ch)
    return (0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F or 0xFF00 <= o <= 0xFFEF
            or 0x3000 <= o <= 0x303F)


def needs_font(ch: str) -> bool:
    """Characters the subset holds: the CJK ones and the typographic marks Chinese text sets with it."""
    return is_cjk(ch) or ch in "“”‘’…—·"


@lru_cache(maxsize=1)
def font_data_url() -> str:
    return "data:font/woff2;base64," + base64.b64encode(FONT_FILE.read_bytes()).decode("ascii")


def font_css(url: str | None = None) -> str:
    """@font-face for the CJK subset (at `url`, or inlined as base64) and the page's font stacks."""
    src = url or font_data_url()
    return (f'@font-face {{ font-family: "{FAMILY}"; src: url("{src}") format("woff2"); '
            "font-weight: 100 900; font-style: normal; font-display: swap; }\n"
            f"body {{ --jp-ui-font-family: {FONT_STACK}; --jp-content-font-family: {FONT_STACK}; "
            f"--jp-widgets-font-family: {FONT_STACK}; font-family: {FONT_STACK}; }}\n"
            # form controls do not inherit the page's font, and the tab bar sets its own
            f"select, option, input, textarea, button, .lm-TabBar-tab, .p-TabBar-tab {{ font-family: {FONT_STACK} !important; }}\n"
            f".js-plotly-plot .main-svg text {{ font-family: {PLOTLY_STACK} !important; }}\n")


def view_font_css() -> str:
    """The style sheet diffviz's views carry on pages diffviz does not serve (JupyterLab, Notebook 7, Solara,
    a notebook saved with its widget state): the subset font inlined as a data: URL (no server route
    needed, nothing fetched off the machine) and the font stacks, scoped to diffviz's own views, their
    tab bars and players, and the notebook's rendered Markdown (a chapter's Chinese text). The Voila
    template and the static export serve the same font themselves (`font_css`)."""
    views = ".diffviz-view, .diffviz-explainer, .dv-player"
    return (f'@font-face {{ font-family: "{INLINE_FAMILY}"; src: url("{font_data_url()}") format("woff2"); '
            "font-weight: 100 900; font-style: normal; font-display: swap; }\n"
            f"{views} {{ --jp-ui-font-family: {FONT_STACK}; --jp-content-font-family: {FONT_STACK}; "
            f"--jp-widgets-font-family: {FONT_STACK}; font-family: {FONT_STACK}; }}\n"
            f".diffviz-view select, .diffviz-view option, .diffviz-view input, .diffviz-view textarea, .diffviz-view button, "
            f".diffviz-view label, .diffviz-explainer .lm-TabBar-tab, .diffviz-explainer .p-TabBar-tab "
            f"{{ font-family: {FONT_STACK} !important; }}\n"
            f".diffviz-view .js-plotly-plot .main-svg text {{ font-family: {PLOTLY_STACK} !important; }}\n"
            f".jp-RenderedHTMLCommon, .jp-RenderedMarkdown {{ font-family: {FONT_STACK}; }}\n")
