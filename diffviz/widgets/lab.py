"""TrainingLab: train a noise predictor from scratch, live; PointDiffusion: a 2-D cloud diffusing and coming back.

    import diffviz
    lab = diffviz.train_lab("digits")     # or "moons", "swiss_roll", "spiral", ("text", text="扩散")
    lab.start()
    lab

The training runs in `diffviz.training.live.LiveTraining`'s background thread; this view only shows
its snapshots: the loss curve (raw and smoothed, traces changed in place), the samples from one
fixed noise batch kept as frames of a FramePlayer (scrubbing moves through *training time*, in the
browser), and the forward pairs of the latest batch. For 2-D data, `PointDiffusion` shows the
forward process and the trained model's way back as two client-side players, and the predicted
noise field at a chosen t in a chart.
"""
from __future__ import annotations

import html
import threading
import time

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
import traitlets

from ..data.toy2d import TOY_NAMES, toy_points
from ..diffusion.points import EXTENT, field_arrows, forward_chain, point_film, render_points
from ..diffusion.trajectory import to_uint8_image, to_uint8_noise
from ..errors import DiffvizError
from ..training.live import LiveTraining, make_task
from .base import WIDE, Int, View, button, explain, guarded, heading, heavy, image_widget, notice, set_png, tile
from .charts import LAYOUT, _figure_widget, update_trace
from .i18n import tr
from .player import FramePlayer

DATA_CHOICES = ("digits",) + TOY_NAMES
UI_EVERY_S = 0.5  # at most two chart updates a second while training
FILM_EVERY_S = 3.0  # the samples player is re-sent at most this often while training (it carries every frame)
MAX_CURVE_POINTS = 400


def loss_figure() -> go.FigureWidget:
    """Empty loss chart with its two traces (per-step loss, smoothed); filled in place while training."""
    fig = go.Figure(layout=dict(LAYOUT, title=tr("lab.loss_title"), xaxis_title=tr("lab.step_axis"), yaxis_title="MSE",
                                height=300, width=440, legend=dict(orientation="h", y=-0.3), yaxis=dict(rangemode="tozero")))
    fig.add_scatter(x=[], y=[], mode="lines", name=tr("lab.loss"), line=dict(color="#9ecae1", width=1))
    fig.add_scatter(x=[], y=[], mode="lines", name=tr("lab.smoothed"), line=dict(color="#08519c", width=2.5))
    return _figure_widget(fig)


def pairs_figure() -> go.FigureWidget:
    """The 2-D training pairs: lines x0 → x_t, the x0 and the x_t."""
    fig = go.Figure(layout=dict(LAYOUT, height=340, width=360, xaxis=dict(range=[-EXTENT, EXTENT], scaleanchor="y"),
                                yaxis=dict(range=[-EXTENT, EXTENT]), legend=dict(orientation="h", y=-0.15),
                                margin=dict(l=30, r=10, t=20, b=30)))
    fig.add_scatter(x=[], y=[], mode="lines", line=dict(color="#ccc", width=1), showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=[], y=[], mode="markers", name="x0", marker=dict(size=4, color="#1f77b4"))
    fig.add_scatter(x=[], y=[], mode="markers", name="x_t", marker=dict(size=4, color="#e6550d"))
    return _figure_widget(fig)


def field_figure() -> go.FigureWidget:
    """The predicted-noise field chart: data, x_t at t, arrows −ε̂ (as line segments with a head marker)."""
    fig = go.Figure(layout=dict(LAYOUT, height=380, width=400, xaxis=dict(range=[-EXTENT, EXTENT], scaleanchor="y"),
                                yaxis=dict(range=[-EXTENT, EXTENT]), legend=dict(orientation="h", y=-0.12),
                                margin=dict(l=30, r=10, t=40, b=30)))
    fig.add_scatter(x=[], y=[], mode="markers", name=tr("toy.field_data"), marker=dict(size=3, color="#bbb"))
    fig.add_scatter(x=[], y=[], mode="markers", name=tr("toy.field_xt"), marker=dict(size=3, color="#1f77b4"))
    fig.add_scatter(x=[], y=[], mode="lines", name=tr("toy.field_arrows"), line=dict(color="#2ca02c", width=1.5))
    fig.add_scatter(x=[], y=[], mode="markers", showlegend=False, hoverinfo="skip", marker=dict(size=4, color="#2ca02c"))
    return _figure_widget(fig)


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[list, list]:
    xs, ys = [], []
    for a, b in zip(starts, ends):
        xs += [float(a[0]), float(b[0]), None]
        ys += [float(a[1]), float(b[1]), None]
    return xs, ys


def _every(values: np.ndarray, k: int) -> np.ndarray:
    return values[::max(1, -(-len(values) // k))]


class PointDiffusion(View):
    """A 2-D point cloud: forward process to N(0, I), the trained model's way back, the field at t."""

    t = Int(500)

    def __init__(self, lab: LiveTraining, frames: int = 30, points: int = 600):
        super().__init__()
        if lab.task.kind != "points":
            raise DiffvizError("PointDiffusion shows 2-D data: give it a lab training on moons, swiss_roll, spiral or text")
        self.lab, self.frames, self.points = lab, frames, points
        self.film = None
        T = lab.task.schedule.num_train_timesteps
        self.forward_player = FramePlayer(zoom=2, fps=8)
        self.reverse_player = FramePlayer(zoom=2, fps=8)
        self.w_show = button("toy.show", primary=True, icon="film")
        self.w_show.on_click(lambda _: self.submit(self.show))
        self.w_t = W.IntSlider(min=0, max=T - 1, description="t", continuous_update=False, layout=W.Layout(width="380px"))
        self.bind("t", self.w_t)
        self.info = W.HTML()
        self.field = field_figure()
        players = W.Box([W.VBox([W.HTML(f"<b>{tr('toy.forward_row')}</b>"), self.forward_player]),
                         W.VBox([W.HTML(f"<b>{tr('toy.reverse_row')}</b>"), self.reverse_player])],
                        layout=W.Layout(flex_flow="row wrap", gap="16px", max_width="100%"))
        self.children = [heading("toy.title"), explain("toy.explain"), notice("toy.notice"), self.banner,
                         W.HBox([self.w_show], layout=W.Layout(flex_flow="row wrap")), self.progress, self.info, players,
                         self.w_t, self.field]
        self._data = torch.from_numpy(lab.task.reference(points, seed=3))
        self._noise = torch.Generator().manual_seed(5)
        self.show_field()

    @traitlets.validate("t")
    def _check_t(self, proposal):
        T = self.lab.task.schedule.num_train_timesteps
        if not 0 <= proposal["value"] < T:
            raise traitlets.TraitError(f"t must be in [0, {T - 1}], got {proposal['value']}")
        return proposal["value"]

    @traitlets.observe("t")
    def _t_changed(self, change):
        self.show_field()

    def set_lab(self, lab: LiveTraining) -> None:
        """Follow another lab's task (new data): the data, field and players start afresh."""
        self.lab = lab
        self._data = torch.from_numpy(lab.task.reference(self.points, seed=3))
        self.forward_player.set_frames(None)
        self.reverse_player.set_frames(None)
        self.info.value = ""
        self.show_field()

    @guarded
    def show_field(self) -> None:
        """The chart: data, x_t at t (the forward process in closed form), the field −ε̂ at t."""
        task = self.lab.task
        net = self.lab.trained_model()  # a copy: the training may go on meanwhile
        g = torch.Generator().manual_seed(11)
        x_t = forward_chain(self._data, task.schedule, [int(self.t)], g)[0].numpy()
        pts, arrows = field_arrows(net, int(self.t))
        heads = (pts + arrows).numpy()
        xs, ys = _segments(pts.numpy(), heads)
        update_trace(self.field, 0, x=self._data[:, 0].numpy(), y=self._data[:, 1].numpy())
        update_trace(self.field, 1, x=x_t[:, 0], y=x_t[:, 1])
        update_trace(self.field, 2, x=xs, y=ys)
        update_trace(self.field, 3, x=heads[:, 0], y=heads[:, 1])
        with self.field.batch_update():
            self.field.layout.title = tr("toy.field_title", t=int(self.t))
        from .charts import _keep_state

        _keep_state(self.field, layout=True)

    @heavy
    def show(self) -> None:
        """Make the film with the model as trained so far (the training may go on meanwhile)."""
        if self.lab.step == 0:
            raise DiffvizError(tr("toy.no_model"))
        step = self.lab.step
        film = point_film(self.lab.trained_model(), self.lab.task.schedule, self._data, frames=self.frames)
        self.film = film
        self.forward_player.set_frames({"": film.forward},  # titled above the player, not again beside the picture
                                       step_labels=[tr("toy.forward_step", t=t) for t in film.forward_t])
        n = len(film.reverse_t) - 1
        self.reverse_player.set_frames({"": film.reverse},
                                       step_labels=[tr("toy.reverse_step", i=i + 1, n=n + 1, t=t) if t >= 0
                                                    else tr("toy.reverse_final", n=n + 1) for i, t in enumerate(film.reverse_t)])
        self.reverse_player.step = self.reverse_player.num_steps - 1
        self.info.value = f"<span style='color:#555'>{tr('toy.made', frames=len(film.forward_t), step=step)}</span>"
        self.show_field()
        self.done()


class TrainingLab(View):
    """Start / pause / resume / reset a training from scratch; loss, samples over training time, pairs."""

    data = traitlets.Unicode("digits")
    text = traitlets.Unicode("A")
    steps = Int(3000)

    def __init__(self, data: str = "digits", text: str = "A", steps: int | None = None, seed: int = 0):
        super().__init__()
        if data not in DATA_CHOICES:
            raise DiffvizError(f"unknown training data {data!r}; allowed: {', '.join(DATA_CHOICES)}")
        self.lab = LiveTraining(make_task(data, text), steps=steps, seed=seed)
        self._ui_lock = threading.RLock()
        self._last_ui = self._last_film = 0.0
        self._frames_shown = -1
        self._starting = True
        self.set_trait("data", data)
        self.set_trait("text", text)
        self.set_trait("steps", self.lab.target)
        self.w_data = W.Dropdown(options=[(tr(f"lab.data_{d}"), d) for d in DATA_CHOICES], description=tr("lab.data"),
                                 style=WIDE, layout=W.Layout(width="auto"))
        self.w_text = W.Text(description=tr("lab.text"), style=WIDE, continuous_update=False, layout=W.Layout(width="200px"))
        self.w_steps = W.BoundedIntText(min=1, max=1_000_000, step=100, description=tr("lab.steps"), style=WIDE,
                                        layout=W.Layout(width="190px"))
        self.bind("data", self.w_data)
        self.bind("text", self.w_text)
        self.bind("steps", self.w_steps)
        self.w_start = button("lab.start", primary=True, icon="play")
        self.w_pause = button("lab.pause", icon="pause")
        self.w_resume = button("lab.resume", icon="play")
        self.w_reset = button("lab.reset", icon="undo")
        self.w_start.on_click(lambda _: self.start())
        self.w_pause.on_click(lambda _: self.pause())
        self.w_resume.on_click(lambda _: self.resume())
        self.w_reset.on_click(lambda _: self.reset())
        self.status = W.HTML()
        self.loss_chart = loss_figure()
        self.samples = FramePlayer(zoom=3, fps=6)
        self.samples_title = W.HTML(f"<b>{tr('lab.samples_title')}</b>")
        self.pairs_note = W.HTML()
        self.pairs_box = W.Box(layout=W.Layout(max_width="100%"))
        self.pairs_chart = None
        self.diffusion = None
        self.diffusion_box = W.VBox()
        row = dict(layout=W.Layout(flex_flow="row wrap", align_items="center", gap="6px"))
        self.controls = W.HBox([self.w_data, self.w_text, self.w_steps], **row)
        self.buttons = W.HBox([self.w_start, self.w_pause, self.w_resume, self.w_reset], **row)
        charts = W.Box([self.loss_chart, W.VBox([self.samples_title, self.samples], layout=W.Layout(max_width="100%"))],
                       layout=W.Layout(flex_flow="row wrap", gap="16px", align_items="flex-start", max_width="100%"))
        self.children = [heading("lab.title"), explain("lab.explain"), notice("lab.notice"), self.banner, self.controls,
                         self.buttons, self.status, self.progress, charts, heading("lab.pairs_title"), self.pairs_note,
                         self.pairs_box, self.diffusion_box]
        self._setup_task_views()
        self.lab.on_update(self._from_training)
        self._starting = False
        self.refresh(force=True)

    # ---- API (the buttons call these) ---------------------------------------------------------------
    @guarded
    def start(self) -> "TrainingLab":
        """Train in the background (resume when paused; go on when `steps` was raised after the end)."""
        self.lab.set_target(self.steps)
        self.lab.start()
        self.refresh(force=True)
        return self

    @guarded
    def pause(self) -> "TrainingLab":
        self.lab.pause()
        self.refresh(force=True)
        return self

    def resume(self) -> "TrainingLab":
        return self.start()

    @guarded
    def reset(self) -> "TrainingLab":
        """Back to fresh weights: the loss, the samples and the pairs are cleared."""
        self.lab.reset()
        self._frames_shown = -1
        self.refresh(force=True)
        if self.diffusion is not None:
            self.diffusion.set_lab(self.lab)
        return self

    def wait(self, timeout: float | None = None) -> "TrainingLab":
        """Wait until the background training stops (finished or paused), then show its last state."""
        super().wait(timeout)
        self.lab.wait(timeout)
        self.refresh(force=True)
        return self

    def snapshot(self):
        """The training's current state (a consistent copy; see `LiveTraining.snapshot`)."""
        return self.lab.snapshot()

    def trained_model(self):
        """The network as trained so far (EMA weights): a DiffusionModel for digits, the 2-D predictor for points."""
        return self.lab.trained_model()

    # ---- traits ------------------------------------------------------------------------------------
    @traitlets.validate("data")
    def _check_data(self, proposal):
        if proposal["value"] not in DATA_CHOICES:
            raise traitlets.TraitError(f"data must be one of {', '.join(DATA_CHOICES)}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("steps")
    def _check_steps(self, proposal):
        if not 1 <= proposal["value"] <= 1_000_000:
            raise traitlets.TraitError(f"steps must be in [1, 1000000], got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("text")
    def _check_text(self, proposal):
        try:
            toy_points("text", 1, text=proposal["value"])
        except DiffvizError as err:
            raise traitlets.TraitError(str(err)) from None
        return " ".join(proposal["value"].split())

    @traitlets.observe("steps")
    def _steps_changed(self, change):
        if not self._starting:
            self.lab.set_target(change["new"])
            self.refresh(force=True)

    @traitlets.observe("data", "text")
    def _data_changed(self, change):
        if self._starting or (change["name"] == "text" and self.data != "text"):
            return
        self.new_data()

    @guarded
    def new_data(self) -> None:
        """Train on the chosen data from scratch."""
        self.lab.reset(make_task(self.data, self.text))
        self._frames_shown = -1
        self._setup_task_views()
        self.refresh(force=True)
        self.show_notice(tr("lab.changed_data"))

    def _setup_task_views(self) -> None:
        points = self.lab.task.kind == "points"
        self.w_text.layout.display = "" if self.data == "text" else "none"
        self.samples.zoom = 2 if points else 3
        self.samples.set_frames(None)
        if points:
            if self.pairs_chart is None:
                self.pairs_chart = pairs_figure()
            self.pairs_box.children = [self.pairs_chart]
            if self.diffusion is None:
                self.diffusion = PointDiffusion(self.lab)
            else:
                self.diffusion.set_lab(self.lab)
            self.diffusion_box.children = [self.diffusion]
        else:
            self.pairs_box.children = []
            self.diffusion_box.children = []

    # ---- showing snapshots ------------------------------------------------------------------------
    def _from_training(self, lab) -> None:
        """Called on the training thread after each step: refresh at most every UI_EVERY_S."""
        if lab is not self.lab:
            return
        now = time.time()
        if now - self._last_ui >= UI_EVERY_S or lab.state != "running":
            self.refresh(force=lab.state != "running")

    def refresh(self, force: bool = False) -> None:
        """Show the lab's current snapshot: status, loss curve, samples film, pairs."""
        with self._ui_lock:
            snap = self.lab.snapshot()
            self._last_ui = time.time()
            self._status(snap)
            if len(snap.steps):
                xs, loss, sm = _every(snap.steps, MAX_CURVE_POINTS), _every(snap.losses, MAX_CURVE_POINTS), _every(snap.smoothed, MAX_CURVE_POINTS)
            else:
                xs = loss = sm = np.zeros(0)
            if len(self.loss_chart.data[0].x or ()) != len(xs) or force:
                update_trace(self.loss_chart, 0, x=xs, y=loss)
                update_trace(self.loss_chart, 1, x=xs, y=sm)
            last = snap.samples[-1][0] if snap.samples else -1
            if last != self._frames_shown and (force or time.time() - self._last_film >= FILM_EVERY_S):
                self._show_samples(snap)
                self._frames_shown, self._last_film = last, time.time()
            self._show_pairs(snap)

    def _status(self, snap) -> None:
        fmt = (lambda v: "–" if v is None else f"{v:.4f}")
        text = tr("lab.status", state=tr(f"lab.state_{snap.state}"), step=snap.step, target=snap.target,
                  loss=fmt(snap.loss), smoothed=fmt(float(snap.smoothed[-1]) if len(snap.smoothed) else None),
                  seconds=snap.seconds)
        if snap.error:
            text += f"<br><span style='color:#a00'>{html.escape(snap.error)}</span>"
        elif snap.state == "done" and snap.step >= snap.target:
            text += f"<br><span style='color:#555'>{tr('lab.finished_note', steps=snap.target)}</span>"
        self.status.value = f"<div class='dv-lab-status'>{text}</div>"
        self.w_start.disabled = snap.state in ("running", "paused")
        self.w_pause.disabled = snap.state != "running"
        self.w_resume.disabled = snap.state not in ("paused",) and not (snap.state == "done" and snap.step < snap.target)

    def _show_samples(self, snap) -> None:
        if not snap.samples:
            self.samples.set_frames(None)
            return
        if self.lab.task.kind == "points":
            data = self.lab.task.reference(600, seed=3)
            frames = np.stack([render_points(s[:600], 150, background=data, colour=(230, 110, 20)) for _, s in snap.samples])
            label = tr("lab.samples_points")
        else:
            frames = np.stack([tile(s, cols=5, gap=1) for _, s in snap.samples])  # rows 0–4, 5–9, 0–4, …
            label = tr("lab.samples_row")
        self.samples.set_frames({label: frames[:, None]}, step_labels=[tr("lab.sample_step", step=s) for s, _ in snap.samples])
        self.samples.step = self.samples.num_steps - 1

    def _show_pairs(self, snap) -> None:
        p = snap.pairs
        if p is None:
            self.pairs_note.value = ""
            if self.lab.task.kind == "points":
                for i in range(3):
                    update_trace(self.pairs_chart, i, x=[], y=[])
            else:
                self.pairs_box.children = []
            return
        if self.lab.task.kind == "points":
            k = min(200, len(p.x0))
            xs, ys = _segments(p.x0[:k], p.x_t[:k])
            update_trace(self.pairs_chart, 0, x=xs, y=ys)
            update_trace(self.pairs_chart, 1, x=p.x0[:k, 0], y=p.x0[:k, 1])
            update_trace(self.pairs_chart, 2, x=p.x_t[:k, 0], y=p.x_t[:k, 1])
            self.pairs_note.value = f"<div style='color:#333'>{tr('lab.pairs_points_note', step=p.step)}</div>"
            return
        if getattr(self, "_pairs_step", None) == p.step:
            return
        self._pairs_step = p.step
        n = min(4, len(p.x0))
        if not self.pairs_box.children:
            self.pairs_box.children = [self._pair_grid]
        for key, values, noise in (("x0", p.x0, False), ("xt", p.x_t, False), ("eps", p.noise, True), ("eps_pred", p.eps_pred, True)):
            pics = (to_uint8_noise if noise else to_uint8_image)(torch.from_numpy(values[:n]))
            set_png(self._pair_images[key], tile(pics, cols=2, gap=1), zoom=4)
        labels = [tr("lab.pair_label", t=int(p.t[i]), what=tr("lab.null_label") if p.labels[i] is None else p.labels[i])
                  for i in range(n)]
        self.pairs_note.value = (f"<div style='color:#333'>{tr('lab.pairs_note', step=p.step)}</div>"
                                 f"<div style='color:#555;font-size:12px'>{' | '.join(html.escape(s) for s in labels)}</div>")

    @property
    def _pair_grid(self) -> W.Box:
        """Four rows of pictures (x0, x_t, ε, ε̂ of the first items of the batch), made once, refilled in place."""
        if not hasattr(self, "_pair_grid_box"):
            self._pair_images = {key: image_widget() for key in ("x0", "xt", "eps", "eps_pred")}
            self._pair_grid_box = W.Box([W.VBox([W.HTML(f"<b>{tr(f'lab.{key}')}</b>"), img], layout=W.Layout(align_items="center"))
                                         for key, img in self._pair_images.items()],
                                        layout=W.Layout(flex_flow="row wrap", gap="12px", max_width="100%"))
        return self._pair_grid_box


def train_lab(data: str = "digits", text: str = "A", steps: int | None = None, seed: int = 0) -> TrainingLab:
    """A TrainingLab on `data` ("digits", "moons", "swiss_roll", "spiral" or "text" with `text`)."""
    return TrainingLab(data, text=text, steps=steps, seed=seed)
