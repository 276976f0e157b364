"""FramePlayer: image sequences scrubbed and played in the browser, with no kernel round trips.

A trajectory's frames (uint8) go to the browser once as one binary buffer; the step slider,
play/pause and hover readout then run in JavaScript (`static/player.js`). Python sets what is
shown (`frames`, `step`, `zoom`, …); with `sync_step=True` the browser reports the step back
when the user releases the slider or pauses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import anywidget
import numpy as np
import traitlets

from .i18n import labels_for
from ..errors import DiffvizError, InputTypeError

STATIC = Path(__file__).parent / "static"


def as_rows(frames, row_labels=None) -> dict[str, np.ndarray]:
    """Frames as {row label: array}: a mapping, or a list of arrays (labelled by `row_labels`)."""
    if frames is None:
        return {}
    if isinstance(frames, Mapping):
        rows = dict(frames)
        if row_labels is not None:
            if len(row_labels) != len(rows):
                raise DiffvizError(f"{len(row_labels)} row labels for {len(rows)} rows")
            rows = dict(zip((str(r) for r in row_labels), rows.values()))
        return rows
    if isinstance(frames, np.ndarray) and frames.ndim == 5:
        frames = [frames]
    if isinstance(frames, (list, tuple)):
        labels = [str(r) for r in row_labels] if row_labels is not None else [f"row {i}" for i in range(len(frames))]
        if len(labels) != len(frames):
            raise DiffvizError(f"{len(labels)} row labels for {len(frames)} rows")
        return dict(zip(labels, frames))
    raise InputTypeError(f"frames must be a dict {{row label: uint8 (S, B, H, W, 3)}} or a list of such arrays, "
                    f"got {type(frames).__name__}")


def pack_frames(rows: Mapping[str, np.ndarray]) -> tuple[bytes, dict]:
    """{label: uint8 (S, B, H, W, 3)} → (one RGB buffer, layout dict). All rows share S and B."""
    if not rows:
        return b"", {"rows": [], "steps": 0, "batch": 0}
    shapes = {k: np.shape(v) for k, v in rows.items()}
    steps_batch = {s[:2] for s in shapes.values()}
    for k, v in rows.items():
        a = np.asarray(v)
        if a.dtype != np.uint8 or a.ndim != 5 or a.shape[-1] != 3:
            raise DiffvizError(f"frames row {k!r} must be uint8 (steps, batch, H, W, 3), got {a.dtype} {a.shape}")
    if len(steps_batch) != 1:
        raise DiffvizError(f"all rows must have the same steps and batch size, got {shapes}")
    S, B = steps_batch.pop()
    parts, layout_rows, offset = [], [], 0
    for label, v in rows.items():
        a = np.ascontiguousarray(v)
        layout_rows.append({"label": label, "offset": offset, "height": int(a.shape[2]), "width": int(a.shape[3])})
        parts.append(a.tobytes())
        offset += a.nbytes
    return b"".join(parts), {"rows": layout_rows, "steps": int(S), "batch": int(B)}


class FramePlayer(anywidget.AnyWidget):
    """Rows of image sequences (e.g. x_t | ε̂ | x̂0) over columns (the batch), one shared step."""

    _esm = STATIC / "player.js"
    _css = STATIC / "player.css"

    frames = traitlets.Bytes(b"").tag(sync=True)
    frame_layout = traitlets.Dict({"rows": [], "steps": 0, "batch": 0}).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
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
