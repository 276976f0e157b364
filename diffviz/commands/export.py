"""`diffviz export -o lecture.html`: the whole lecture as one offline HTML page (no kernel, no server)."""
from __future__ import annotations

import argparse

from . import SEED, int_in

CHAPTER_NAMES = ("forward", "reverse", "noise", "guidance", "prompts", "schedulers", "clip", "fid", "latent", "wordmaps")  # = export.lecture.CHAPTERS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="lecture.html")
    p.add_argument("--model", default=None, help="bundled name or folder (default: shapes, else the first bundled)")
    p.add_argument("--prompts", nargs="*", default=None, help="prompts (text model) or classes (class model)")
    p.add_argument("--steps", type=int_in(1, None), default=50)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--lang", default=None, choices=["en", "zh"], help="en or zh (default: DIFFVIZ_LANG or en)")
    p.add_argument("--sections", default=None, metavar="NAMES",
                   help="comma-separated chapters (default: every one the model can show): " + ",".join(CHAPTER_NAMES))
    p.add_argument("--quick", action="store_true",
                   help="fewer steps, scales and images per chapter (FID at N = 64 instead of 256)")


def run(args) -> int:
    import time

    from ..errors import DiffvizError, OutputPathError, short
    from ..export import export_html, lecture_sections
    from ..export.lecture import check_sections
    from ..utils import check_output_file
    from ..models.defaults import model_name
    from ..models.registry import load
    from ..i18n import language, set_language, tr

    start = time.perf_counter()
    out = check_output_file(args.output)  # before a minute of sampling
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputPathError(f"output {short(str(out))} must be an .html file")
    if args.lang:
        set_language(args.lang)
    model = load(args.model or model_name())
    sections = None if args.sections is None else [s.strip() for s in args.sections.split(",") if s.strip()]
    if sections is not None and not sections:
        raise DiffvizError(f"--sections needs at least one of: {', '.join(CHAPTER_NAMES)}")
    sections = check_sections(model, sections)  # an unknown or impossible chapter is refused before sampling
    if args.prompts and model.kind == "class":  # checked before sampling: 'seven' is no class of the digits model
        model.conditioner.check_labels([int(p) if p.isdigit() else p for p in args.prompts])
    elif args.prompts and model.kind == "text":
        model.conditioner.check_prompts(args.prompts)
    elif args.prompts:
        raise DiffvizError(f"model {model.name!r} is unconditional: it takes no --prompts")
    parts = lecture_sections(model, args.prompts, args.steps, args.seed, sections=sections, quick=args.quick,
                             log=lambda name, s: print(f"  {name}: {s:.1f} s", flush=True))
    path = export_html(out, parts, title=f"diffviz · {model.name}", lang=language(),
                       intro=tr("export.intro", model=model.name, seed=args.seed, steps=args.steps))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(parts)} chapter{'s' if len(parts) != 1 else ''}, "
          f"{time.perf_counter() - start:.0f} s, self-contained, works offline)")
    return 0
