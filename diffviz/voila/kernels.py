"""A cap on live Voila kernels: a burst of page loads cannot exhaust the machine's memory.

Voila starts a kernel for every page load (each bare GET), and a diffviz kernel holds torch, diffusers,
open_clip and the models (~1.3 GB). `CappedKernelManager` refuses a kernel beyond `max_kernels` with
HTTP 503 and a short page that says why and what to do; idle kernels are culled (VOILA_SETTINGS), which
frees places again. The default cap is what the machine's memory holds: total memory / 1.5 GB, less
one kernel's worth for the system (at least 1).

Imported by the Voila server process: nothing here imports torch or the rest of diffviz.
"""
from __future__ import annotations

import json
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.web import HTTPError
from traitlets import Integer

I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"  # read directly: diffviz.widgets would import torch
KERNEL_BYTES = 1536 << 20  # one diffviz kernel with the bundled models, rounded up (measured 1.27 GB RSS)


def full_message(cap: int) -> str:
    """The "dashboard full" text, English then Chinese (the page is shown before any language is chosen)."""
    lines = []
    for lang in ("en", "zh"):
        table = json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8")).get("server", {})
        lines.append(table.get("full", "").format(cap=cap))
    return " / ".join(line for line in lines if line)


def default_max_kernels() -> int:
    """How many diffviz kernels this machine's memory holds."""
    import psutil

    return max(1, int(psutil.virtual_memory().total // KERNEL_BYTES) - 1)


class CappedKernelManager(AsyncMappingKernelManager):
    """Voila's kernel manager with a cap on live kernels (0: the default for this machine's memory)."""

    max_kernels = Integer(0, help="Most kernels alive at once; 0 = what this machine's memory holds "
                                                 "(total / 1.5 GB, less one).").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starting = 0

    @property
    def cap(self) -> int:
        return self.max_kernels if self.max_kernels > 0 else default_max_kernels()

    def live_kernels(self) -> int:
        """Kernels running or being started."""
        return len(self._kernels) + self._starting

    async def start_kernel(self, *args, **kwargs):
        if kwargs.get("kernel_id") is None and self.live_kernels() >= self.cap:
            self.log.warning("diffviz: refused a kernel, %d of %d places taken", self.live_kernels(), self.cap)
            # the page shows log_message (the template's 503.html escapes it; see diffviz.voila.install_template)
            raise HTTPError(503, full_message(self.cap).replace("%", "%%"), reason="Dashboard full")
        self._starting += 1
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            self._starting -= 1
