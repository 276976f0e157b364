"""`diffviz export -o lecture.html`: the lecture as one offline HTML page (no kernel needed)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="lecture.html")
    p.add_argument("--model", default=None, help="bundled name or folder (default: shapes, else the first bundled)")
    p.add_argument("--prompts", nargs="*", default=None, help="prompts (text model) or classes (class model)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="en or zh (default: DIFFVIZ_LANG or en)")


def run(args) -> int:
    from ..export import export_html, lecture_sections
    from ..widgets.base import default_model
    from ..i18n import language, set_language

    if args.lang:
        set_language(args.lang)
    model = default_model(args.model)
    path = export_html(args.output, lecture_sections(model, args.prompts, args.steps, args.seed),
                       title=f"diffviz · {model.name}", lang=language())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained, works offline)")
    return 0
