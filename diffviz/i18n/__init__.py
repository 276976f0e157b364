"""Every user-facing label, one JSON file per language (English first), one place per label.

The lecture is taught in Mandarin: `DIFFVIZ_LANG=zh` (or `set_language("zh")`) serves the
Simplified Chinese labels from `diffviz/i18n/zh.json` without touching widget code. A key
missing in a language falls back to English.

This module sits at the bottom of the layers (it only reads JSON), so a core function that
formats a label (e.g. `Trajectory.step_labels`) may use it; `diffviz.widgets.i18n` re-exports it.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from ..errors import DiffvizError

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh")
_current: list[str] = []


@lru_cache(maxsize=None)
def _table(lang: str) -> dict:
    return json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def language() -> str:
    lang = _current[-1] if _current else os.environ.get("DIFFVIZ_LANG", "en")
    return lang if lang in LANGUAGES else "en"


def set_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise DiffvizError(f"unknown language {lang!r}; allowed: {', '.join(LANGUAGES)}")
    _current[:] = [lang]


def tr(key: str, lang: str | None = None, **fmt) -> str:
    """The label `section.name` in the current language (English when missing)."""
    section, _, name = key.partition(".")
    lang = lang or language()
    text = _table(lang).get(section, {}).get(name) or _table("en").get(section, {}).get(name)
    if text is None:
        raise KeyError(f"no label {key!r} in diffviz/i18n/en.json")
    return text.format(**fmt) if fmt else text


def labels_for(section: str, lang: str | None = None) -> dict[str, str]:
    """All labels of one section (English merged under the chosen language)."""
    lang = lang or language()
    return {**_table("en").get(section, {}), **_table(lang).get(section, {})}
