"""One module per `diffviz` subcommand; here the argument types they share (a bad value is one line, exit 2)."""
from __future__ import annotations

import argparse
import math


def int_in(lo: int | None = None, hi: int | None = None, name: str = ""):
    """argparse type: a whole number in [lo, hi] (`name` starts the refusal: "port must be in …")."""
    who = f"{name} " if name else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{who}must be a whole number{_range(lo, hi)}, got {text[:40]!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{who}must be{_range(lo, hi)}, got {_short_int(value)}")
        return value
    parse.__name__ = "whole number"
    return parse


def number_in(lo: float | None = None, hi: float | None = None, *, above: bool = False):
    """argparse type: a finite number in [lo, hi] (in (lo, hi] with above=True)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number{_range(lo, hi, above)}, got {text[:40]!r}") from None
        if not math.isfinite(value) or (lo is not None and (value <= lo if above else value < lo)) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be a finite number{_range(lo, hi, above)}, got {text[:40]}")
        return value
    parse.__name__ = "number"
    return parse


def _range(lo, hi, above: bool = False) -> str:
    f = lambda v: f"{v:,}".replace(",", "_") if isinstance(v, int) else f"{v:g}"  # noqa: E731
    if lo is not None and hi is not None:
        return f" in {'(' if above else '['}{f(lo)}, {f(hi)}]"
    if lo is not None:
        return f" {'>' if above else '>='} {f(lo)}"
    if hi is not None:
        return f" <= {f(hi)}"
    return ""


def _short_int(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}… ({len(text)} digits)"


SEED = int_in(0, 2**63 - 1)


def set_threads(threads: int | None) -> None:
    """torch's CPU threads for a command's run (`--threads`; None: torch's default, one per core)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
