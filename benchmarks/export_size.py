"""Size and time of `diffviz export` (the whole lecture as one offline HTML file), per model and language.

Each row is a fresh `diffviz export` process (imports, model load, every chapter, writing the file), as a
lecturer runs it: by default with the command's default settings (torch's own thread count, no
OMP_NUM_THREADS), the figure a user sees; `--threads N` passes `diffviz export --threads N` instead.
The per-chapter seconds come from the command's own log. On a shared machine the wall time is mostly
waiting: the CPU time (user + system of the export process) is the figure to compare; wall ≈ CPU / 2 on an
idle 2-core machine (torch uses both cores while sampling). The page's size is split into what every page
carries (plotly.js, player, and in Chinese the CJK subset font) and the lecture itself (frames, pictures, charts).

    .venv/bin/python benchmarks/export_size.py [--models shapes digits] [--langs en zh] [--modes full quick] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_export(model: str, lang: str, quick: bool, out: Path, threads: int | None, timeout: float = 3600) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cmd = [sys.executable, "-m", "diffviz.cli", "export", "-o", str(out), "--model", model, "--lang", lang]
    if quick:
        cmd.append("--quick")
    if threads:
        cmd += ["--threads", str(threads)]
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    chapters = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(?:\[\d+/\d+\] )?(\w+): ([\d.]+) s\b", proc.stdout, re.M)}
    page = out.read_text(encoding="utf-8")
    fixed = sum(len(m.group(0)) for m in re.finditer(r"<script>/\*\*\s*\n\* plotly\.js.*?</script>", page, re.S))
    fixed += sum(len(m.group(0)) for m in re.finditer(r"const code = .*?;\n", page, re.S))
    fixed += sum(len(m.group(0)) for m in re.finditer(r"url\(\"data:font/woff2;base64,[^\"]*\"\)", page))
    size = out.stat().st_size
    return {"model": model, "lang": lang, "mode": "quick" if quick else "full", "wall": wall, "cpu": cpu, "chapters": chapters,
            "size": size, "lecture": size - fixed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["shapes", "digits"])
    ap.add_argument("--langs", nargs="+", default=["en", "zh"])
    ap.add_argument("--modes", nargs="+", default=["full", "quick"], choices=["full", "quick"])
    ap.add_argument("--threads", type=int, default=None, help="diffviz export --threads N (default: the command's default)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one export may take (a loaded machine is slow)")
    args = ap.parse_args(argv)
    rows = []
    print(f"cpus: {os.cpu_count()} · torch threads: {args.threads or 'default'} · load average before: "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for mode in args.modes:
                for lang in args.langs:
                    r = run_export(model, lang, mode == "quick", Path(tmp) / f"{model}-{lang}-{mode}.html", args.threads,
                                   args.timeout)
                    rows.append(r)
                    slow = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["chapters"].items(), key=lambda kv: -kv[1])[:3])
                    print(f"{model:7s} {lang} {mode:5s}  {r['size'] / 1e6:5.2f} MB (lecture {r['lecture'] / 1e6:4.2f} MB)  "
                          f"{r['wall']:5.1f} s wall, {r['cpu']:5.1f} s CPU  [{len(r['chapters'])} chapters; slowest: {slow}]"
                          f"  load average now {os.getloadavg()[0]:.1f}", flush=True)
    print("\n| model | lang | mode | file size | of which lecture content | wall time | CPU time | chapters (their wall s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['lang']} | {r['mode']} | {r['size'] / 1e6:.2f} MB | {r['lecture'] / 1e6:.2f} MB | "
              f"{r['wall']:.0f} s | {r['cpu']:.0f} s | {len(r['chapters'])} ({sum(r['chapters'].values()):.0f} s) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
