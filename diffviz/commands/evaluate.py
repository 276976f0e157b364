"""`diffviz evaluate`: measure the bundled models the way their model cards do."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", default=["shapes", "digits"], help="bundled models or model folders to measure, each on the data set it records (default: shapes and digits); shapes-bilingual: shapes with its English+Chinese text "
                   "encoder, adherence per language")
    p.add_argument("--quick", action="store_true", help="rough figures in a few minutes (fewer images and steps)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")


def run(args) -> int:
    from ..utils import atomic_write, check_output_file

    if args.json:
        check_output_file(args.json)  # before minutes of measuring
    from ..metrics.quality import QualitySettings, format_report, model_quality

    settings = QualitySettings.quick() if args.quick else QualitySettings()
    reports = {name: model_quality(name, settings) for name in args.models}
    print(format_report(reports))
    if args.json:
        atomic_write(args.json, json.dumps(reports, indent=2))  # never a half-written file
    return 0
