"""`diffviz export -o lecture.html`: the lecture as one offline HTML page (no kernel needed)."""
from __future__ import annotations

import argparse

from . import SEED, int_in


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="lecture.html")
    p.add_argument("--model", default=None, help="bundled name or folder (default: shapes, else the first bundled)")
    p.add_argument("--prompts", nargs="*", default=None, help="prompts (text model) or classes (class model)")
    p.add_argument("--steps", type=int_in(1, None), default=50)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--lang", default=None, choices=["en", "zh"], help="en or zh (default: DIFFVIZ_LANG or en)")


def run(args) -> int:
    from ..errors import DiffvizError, OutputPathError, short
    from ..export import export_html, lecture_sections
    from ..utils import check_output_file
    from ..models.defaults import model_name
    from ..models.registry import load
    from ..i18n import language, set_language

    out = check_output_file(args.output)  # before a minute of sampling
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputPathError(f"output {short(str(out))} must be an .html file")
    if args.lang:
        set_language(args.lang)
    model = load(args.model or model_name())
    if args.prompts and model.kind == "class":  # checked before sampling: 'seven' is no class of the digits model
        model.conditioner.check_labels([int(p) if p.isdigit() else p for p in args.prompts])
    elif args.prompts and model.kind == "text":
        model.conditioner.check_prompts(args.prompts)
    elif args.prompts:
        raise DiffvizError(f"model {model.name!r} is unconditional: it takes no --prompts")
    path = export_html(out, lecture_sections(model, args.prompts, args.steps, args.seed),
                       title=f"diffviz · {model.name}", lang=language())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained, works offline)")
    return 0
