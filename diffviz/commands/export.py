"""`diffviz export -o lecture.html`: the whole lecture as one offline HTML page (no kernel, no server)."""
from __future__ import annotations

import argparse

from . import SEED, int_in, set_threads

CHAPTER_NAMES = ("forward", "reverse", "noise", "guidance", "prompts", "schedulers", "clip", "fid", "latent", "wordmaps")  # = export.lecture.CHAPTERS
# Rough relative cost of each chapter (by the images it samples; not a measurement): the time left after each
# chapter is elapsed × remaining cost / cost done, so it is calibrated on this machine as the export runs.
CHAPTER_COST = {"forward": 1, "reverse": 4, "noise": 2, "guidance": 10, "prompts": 3, "schedulers": 10, "clip": 3,
                "fid": 20, "latent": 2, "wordmaps": 3}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="lecture.html", help="the .html page to write (default: lecture.html)"
                   "; a symbolic link is written through (its target replaced); a device or FIFO is refused")
    p.add_argument("--model", default=None, help="bundled name or folder (default: shapes, else the first bundled)")
    p.add_argument("--prompts", nargs="*", default=None, help="prompts (text model) or classes (class model)")
    p.add_argument("--steps", type=int_in(1, None), default=50)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--lang", default=None, choices=["en", "zh"], help="en or zh (default: DIFFVIZ_LANG or en)")
    p.add_argument("--sections", default=None, metavar="NAMES",
                   help="comma-separated chapters (default: every one the model can show): " + ",".join(CHAPTER_NAMES))
    p.add_argument("--quick", action="store_true",
                   help="fewer steps, scales and images per chapter (FID at N = 64 instead of 256)")
    p.add_argument("--threads", type=int_in(1, 1024), default=None, help="torch CPU threads, >= 1 (default: torch's)")


class ChapterProgress:
    """One line per finished chapter: `[2/8] reverse: 12.3 s · about 1 min left` (from CHAPTER_COST)."""

    def __init__(self, chapters: list[str]):
        self.chapters, self.done, self.spent = chapters, [], 0.0

    def __call__(self, name: str, seconds: float) -> None:
        from ..metrics.fid import duration_text

        self.done.append(name)
        self.spent += seconds
        cost = lambda names: sum(CHAPTER_COST.get(n, 5) for n in names)  # noqa: E731
        left = self.spent * cost(self.chapters[len(self.done):]) / max(cost(self.done), 1e-9)
        tail = f" · about {duration_text(left)} left" if len(self.done) < len(self.chapters) else ""
        print(f"  [{len(self.done)}/{len(self.chapters)}] {name}: {seconds:.1f} s{tail}", flush=True)


def run(args) -> int:
    import time

    from ..errors import DiffvizError, OutputPathError, short
    from ..utils import check_output_file

    start = time.perf_counter()
    out = check_output_file(args.output)  # before a minute of sampling, and before seconds of imports
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputPathError(f"output {short(str(out))} must be an .html file")
    from ..export import export_html, lecture_sections
    from ..export.lecture import check_sections
    from ..models.defaults import load_default
    from ..models.registry import load
    from ..i18n import language, set_language, tr

    set_threads(args.threads)
    if args.lang:
        set_language(args.lang)
    model = load(args.model) if args.model else load_default()  # in --lang zh: reads Chinese prompts
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
    print(f"exporting {len(sections)} chapters of {model.name} ({', '.join(sections)}); time left after each:", flush=True)
    parts = lecture_sections(model, args.prompts, args.steps, args.seed, sections=sections, quick=args.quick,
                             log=ChapterProgress(sections))
    path = export_html(out, parts, title=f"diffviz · {model.name}", lang=language(),
                       intro=tr("export.intro", model=model.name, seed=args.seed, steps=args.steps))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(parts)} chapter{'s' if len(parts) != 1 else ''}, "
          f"{time.perf_counter() - start:.0f} s, self-contained, works offline)")
    return 0
