"""The key guard (`static/keys.js`): keys pressed on a focused control of a diffviz view stay with that
control instead of firing JupyterLab's notebook shortcuts (`a`, `b`, `m`, `d d`, `z` in command mode);
Ctrl/Cmd combinations, Esc and Shift+Enter still reach the page."""
from __future__ import annotations

from pathlib import Path

import anywidget

STATIC = Path(__file__).parent / "static"
KEYS_JS = STATIC / "keys.js"


def with_key_guard(module: Path) -> str:
    """An ES module's text with the key guard's functions before it (it calls `guardKeys()` itself)."""
    return KEYS_JS.read_text(encoding="utf-8") + "\n" + module.read_text(encoding="utf-8")


class KeyGuard(anywidget.AnyWidget):
    """An invisible widget that installs the key guard on the page (once per page, however many views)."""

    _esm = KEYS_JS.read_text(encoding="utf-8") + "\nexport default { render() { guardKeys(); } };\n"
