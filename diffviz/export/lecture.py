"""The lecture pack's content: precomputed forward strip, schedules and reverse trajectories."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from ..diffusion.forward import forward_strip
from ..diffusion.schedule import Schedule
from ..diffusion.trajectory import to_uint8_image
from ..frames import trajectory_rows
from ..models.defaults import EXAMPLE_CLASSES, example_conditions, example_prompts
from ..i18n import tr
from .pack import Section


def schedule_chart() -> go.Figure:
    fig = go.Figure(layout=dict(title=tr("forward.schedule_title"), xaxis_title="t", yaxis_title="ᾱ_t",
                                template="plotly_white", height=320))
    for name in ("linear", "scaled_linear", "cosine"):
        fig.add_scatter(y=Schedule.from_name(name).alphas_cumprod.numpy(), name=tr(f"options.{name}"))
    return fig


def lecture_sections(model, prompts: list | None = None, steps: int = 50, seed: int = 0) -> list[Section]:
    """Forward process, schedules, and one reverse trajectory per condition, ready for `export_html`."""
    if model.kind == "text":
        conds = prompts or example_prompts(model, 4)
    elif model.kind == "class":
        conds = model.conditioner.check_labels([int(p) if str(p).isdigit() else p for p in prompts]) if prompts \
            else example_conditions(model, EXAMPLE_CLASSES)
    else:
        conds = None
    traj = model.sample(conds, num_images=None if conds else 4, steps=steps, seed=seed)
    x0 = traj.final_decoded if traj.latent else traj.final
    if x0.shape[1] == 1:
        x0 = x0.expand(-1, 3, -1, -1)
    ts = np.linspace(0, 999, 21).round().astype(int).tolist()
    strip = forward_strip(x0[:4].clamp(-1, 1), ts, "cosine", generator=torch.Generator().manual_seed(seed))
    forward = Section(tr("forward.title"), tr("forward.explain"), players=[{
        "rows": {"x_t": to_uint8_image(strip.x_t)}, "zoom": 4,
        "step_labels": [f"t = {s} · ᾱ = {float(a):.3f}" for s, a in zip(ts, strip.alpha_bar)]}],
        figures=[schedule_chart()])
    reverse = Section(tr("reverse.title"), tr("reverse.explain"), players=[{
        "rows": trajectory_rows(traj), "step_labels": traj.step_labels(), "zoom": 4, "step": traj.num_steps - 1,
        "column_labels": [str(c) for c in traj.meta["conditions"]]}])
    return [forward, reverse]
