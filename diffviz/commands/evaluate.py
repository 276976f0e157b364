"""`diffviz evaluate`: measure the bundled models the way their model cards do.

A progress bar per model on stderr counts the images it generates and shows the time left (`--quick`: rough
figures from fewer images and steps).
"""
from __future__ import annotations

import argparse
import json

from . import int_in, set_threads


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", default=["shapes", "digits"], help="bundled models or model folders to measure, each on the data set it records (default: shapes and digits); shapes-bilingual: shapes with its English+Chinese text "
                   "encoder, adherence per language")
    p.add_argument("--quick", action="store_true", help="rough figures in a few minutes (fewer images and steps)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--threads", type=int_in(1, 1024), default=None, help="torch CPU threads, >= 1 (default: torch's)")


def run(args) -> int:
    from ..utils import atomic_write, check_output_file

    if args.json:
        check_output_file(args.json)  # before minutes of measuring
    from ..metrics.quality import QualitySettings, format_report, model_quality

    set_threads(args.threads)
    settings = QualitySettings.quick() if args.quick else QualitySettings()
    print(f"evaluating {', '.join(args.models)} ({settings.steps} steps per image; progress and time left below)",
          flush=True)
    reports = {name: model_quality(name, settings, progress=True) for name in args.models}
    print(format_report(reports))
    if args.json:
        atomic_write(args.json, json.dumps(reports, indent=2))  # never a half-written file
    return 0
