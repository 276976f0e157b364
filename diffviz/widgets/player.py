"""FramePlayer: image sequences scrubbed and played in the browser, with no kernel round trips.

A trajectory's frames (uint8) go to the browser once as one binary buffer; the step slider,
play/pause and hover readout then run in JavaScript (`static/player.js`). Python sets what is
shown (`frames`, `step`, `zoom`, …); with `sync_step=True` the browser reports the step back
when the user releases the slider or pauses.
"""
from __future__ import annotations

import anywidget
import traitlets

from ..frames import as_rows, pack_frames  # noqa: F401  (the wire format; re-exported)
from ..errors import DiffvizError
from .i18n import labels_for
from .keys import STATIC, with_key_guard


def player_module() -> str:
    """The FramePlayer's ES module (player.js with the key guard), as the kernel views and the export run it."""
    return with_key_guard(STATIC / "player.js")


class FramePlayer(anywidget.AnyWidget):
    """Rows of image sequences (e.g. x_t | ε̂ | x̂0) over columns (the batch), one shared step."""

    _esm = player_module()
    _css = STATIC / "player.css"

    frames = traitlets.Bytes(b"").tag(sync=True)
    frame_layout = traitlets.Dict({"rows": [], "steps": 0, "batch": 0}).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    loop = traitlets.Bool(False).tag(sync=True)  # playing starts again from the first step at the last
    fps = traitlets.Int(8).tag(sync=True)
    zoom = traitlets.Int(4).tag(sync=True)
    step_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    column_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    sync_step = traitlets.Bool(False).tag(sync=True)
    labels = traitlets.Dict().tag(sync=True)

    def __init__(self, rows=None, step_labels=None, column_labels=None, zoom: int = 4, fps: int = 8,
                 row_labels=None, **kwargs):
        super().__init__(zoom=zoom, fps=fps, labels=labels_for("player"), **kwargs)
        self.set_frames(rows, step_labels, column_labels, row_labels)

    @property
    def num_steps(self) -> int:
        return int(self.frame_layout.get("steps", 0))

    @property
    def row_labels(self) -> list[str]:
        return [r["label"] for r in self.frame_layout.get("rows", [])]

    def set_frames(self, rows, step_labels=None, column_labels=None, row_labels=None) -> None:
        """Replace what is shown: {row label: uint8 (S, B, H, W, 3)} (or a list of arrays with
        `row_labels`); sent once, as one binary buffer."""
        data, layout = pack_frames(as_rows(rows, row_labels))
        if step_labels is not None and len(step_labels) != layout["steps"]:
            raise DiffvizError(f"{len(step_labels)} step labels for {layout['steps']} steps")
        with self.hold_sync():
            self.step = min(self.step, max(0, layout["steps"] - 1))
            self.step_labels = list(step_labels or [])
            self.column_labels = [str(c) for c in (column_labels or [])]
            self.frame_layout = layout
            self.frames = data

    @traitlets.validate("step")
    def _valid_step(self, proposal):
        s = proposal["value"]
        n = int(self.frame_layout.get("steps", 0))
        if n and not 0 <= s < n:
            raise traitlets.TraitError(f"step must be in [0, {n - 1}], got {s}")
        return s

    @traitlets.validate("fps")
    def _valid_fps(self, proposal):
        if not 1 <= proposal["value"] <= 60:
            raise traitlets.TraitError(f"fps must be in 1..60, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("zoom")
    def _valid_zoom(self, proposal):
        if not 1 <= proposal["value"] <= 32:
            raise traitlets.TraitError(f"zoom must be in 1..32, got {proposal['value']}")
        return proposal["value"]
