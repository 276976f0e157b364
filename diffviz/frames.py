"""The frames wire format shared by the FramePlayer widget and the static export.

A player shows rows (x_t | ε̂ | x̂0 …) over columns (the batch) at one shared step. Every row is a
uint8 array (steps, batch, H, W, 3); all rows travel as ONE binary buffer, row after row, with a
small layout dict saying where each row starts and its size. The browser (widgets/static/player.js)
reads frame (row r, step s, column c) at `rows[r].offset + ((s * batch + c) * H * W * 3)`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import DiffvizError, InputTypeError
from .i18n import tr


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


def trajectory_rows(traj) -> dict[str, np.ndarray]:
    """The player's rows for a trajectory: what the denoiser sees, predicts, and the clean image."""
    if traj.latent:  # the picture the hall watches appear first, then the latent the generator denoises
        return {tr("reverse.row_decoded"): traj.frames("decoded"), tr("reverse.row_latent"): traj.frames("x_t"),
                tr("reverse.row_eps"): traj.frames("eps")}
    return {tr("reverse.row_xt"): traj.frames("x_t"), tr("reverse.row_eps"): traj.frames("eps"),
            tr("reverse.row_x0"): traj.frames("x0_pred")}
