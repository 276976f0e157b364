"""ReverseProcess: denoise from pure noise, one step at a time, with the prompt or class as condition."""
from __future__ import annotations

import html

import ipywidgets as W
import traitlets

from ..diffusion.schedulers import SCHEDULER_NAMES
from ..models.defaults import example_prompts
from .base import WIDE, View, button, default_model, explain, heading, heavy, image_widget, notice, set_png, tile, zoom_for
from .base import Float, Int  # numpy scalars are numbers
from .guidance import guidance_warning
from .i18n import tr
from ..frames import trajectory_rows  # noqa: F401  (re-exported)
from .player import FramePlayer

MAX_IMAGES = 8  # per generate: the player shows one column per image


def condition_control(model):
    """A prompt box (text model), a class dropdown (class model) or nothing (unconditional)."""
    if model.kind == "text":
        return W.Text(value=example_prompts(model, 1)[0], description=tr("common.prompt"), layout=W.Layout(width="420px", max_width="100%"),
                      placeholder=tr("reverse.prompt_hint"), style=WIDE)
    if model.kind == "class":
        names = model.conditioner.class_names
        return W.Dropdown(options=[(n, i) for i, n in enumerate(names)], value=0, description=tr("common.class"), style=WIDE)
    return None


def scheduler_options(model) -> list[str]:
    """diffviz's teaching schedulers, and first "model" (the scheduler it ships) for a model imported from diffusers."""
    own = ["model"] if model.meta.get("default_scheduler") == "model" else []
    return own + list(SCHEDULER_NAMES)


class ReverseProcess(View):
    """Generate with a recorded trajectory and scrub through x_t, ε̂ and x̂0 at every step."""

    prompt = traitlets.Unicode("")
    class_label = Int(0)
    seed = Int(0)
    num_images = Int(4)
    scheduler = traitlets.Unicode("ddim")
    steps = Int(50)
    guidance = Float(3.0)

    def __init__(self, model=None, *, generate: bool = True, **state):
        super().__init__()
        self.model = default_model(model)
        self.trajectory = None
        self.w_cond = condition_control(self.model)
        self.w_seed = W.IntText(description=tr("common.seed"), layout=W.Layout(width="180px"), style=WIDE)
        self.w_n = W.IntSlider(min=1, max=MAX_IMAGES, description=tr("reverse.images"), style=WIDE)
        self.w_sched = W.Dropdown(options=scheduler_options(self.model), description=tr("common.scheduler"), style=WIDE,
                                  layout=W.Layout(width="220px"))
        self.w_steps = W.IntSlider(min=1, max=min(200, self.model.schedule.num_train_timesteps), description=tr("common.steps"),
                                   style=WIDE)
        self.w_guidance = W.FloatSlider(min=0, max=10, step=0.5, description=tr("common.guidance"), style=WIDE,
                                        disabled=self.model.kind == "uncond")
        self.w_go = button("reverse.generate", primary=True, icon="play")
        self.w_go.on_click(lambda _: self.submit(self.generate))
        pairs = [(self.w_seed, "seed"), (self.w_n, "num_images"), (self.w_sched, "scheduler"),
                 (self.w_steps, "steps"), (self.w_guidance, "guidance")]
        if self.model.kind == "text":
            pairs.append((self.w_cond, "prompt"))
        elif self.model.kind == "class":
            pairs.append((self.w_cond, "class_label"))
        defaults = dict(guidance=self.model.default_guidance if self.model.kind != "uncond" else 1.0,
                        scheduler=scheduler_options(self.model)[0],
                        prompt=getattr(self.w_cond, "value", "") if self.model.kind == "text" else "")
        for k, v in {**defaults, **state}.items():
            setattr(self, k, v)
        for widget, name in pairs:  # the widget state (traitlets) is the source of truth
            self.bind(name, widget)
        self.guidance_note = W.HTML(layout=W.Layout(display="none"))
        self.observe(lambda _: self._warn_guidance(), "guidance")
        self._warn_guidance()
        self.player = FramePlayer(zoom=zoom_for(self.model.image_shape[-1]))
        self.final = image_widget()
        self.summary = W.HTML()
        controls = W.VBox([W.HBox([c for c in (self.w_cond, self.w_go) if c is not None]),
                           W.HBox([self.w_seed, self.w_n, self.w_sched]), W.HBox([self.w_steps, self.w_guidance]), self.guidance_note])
        self.children = [heading("reverse.title"), explain("reverse.explain"), notice("reverse.notice"), self.banner, controls,
                         self.progress, self.player, heading("reverse.final"), self.summary, self.final]
        if generate:  # on the worker thread: the view shows now, its progress bar moves, the result follows
            self.submit(self.generate)

    def _warn_guidance(self) -> None:
        """Say so when w leaves the range the model was tuned for (too much guidance degrades images)."""
        message = guidance_warning(self.model, self.guidance)
        self.guidance_note.value = "" if message is None else (
            f'<div class="dv-notice" style="background:#fff8e1;color:#5d4300;padding:6px 12px;border-radius:4px;'
            f'border:1px solid #ffe08a;max-width:56em">ℹ {html.escape(message)}</div>')
        self.guidance_note.layout.display = "none" if message is None else ""

    @traitlets.validate("guidance")
    def _check_guidance(self, proposal):
        g = proposal["value"]
        if not (g == g and 0 <= g < float("inf")):
            raise traitlets.TraitError(f"guidance must be a finite number >= 0, got {g}")
        return g

    @traitlets.validate("scheduler")
    def _check_scheduler(self, proposal):
        allowed = scheduler_options(self.model)
        if proposal["value"] not in allowed:
            raise traitlets.TraitError(f"unknown scheduler {proposal['value']!r}; allowed: {', '.join(allowed)}")
        return proposal["value"]

    @traitlets.validate("steps", "num_images", "seed", "class_label")
    def _check_range(self, proposal):
        name, v = proposal["trait"].name, proposal["value"]
        lo, hi = {"steps": (1, self.w_steps.max), "num_images": (1, MAX_IMAGES), "seed": (0, 2**63 - 1),
                  "class_label": (0, self._num_classes() - 1)}[name]
        if not lo <= v <= hi and name == "seed":
            raise traitlets.TraitError(tr("notices.seed", value=v))
        if not lo <= v <= hi:
            raise traitlets.TraitError(f"{name} must be in [{lo}, {'2^63 − 1' if hi == 2**63 - 1 else hi}], got {v}")
        return v

    def _num_classes(self) -> int:
        return self.model.conditioner.num_classes if self.model.kind == "class" else 1

    def conditions(self):
        if self.model.kind == "text":
            return [self.prompt] * self.num_images
        if self.model.kind == "class":
            return [self.class_label] * self.num_images
        return None

    @heavy
    def generate(self):
        """Sample with the current settings; fills the player (sent to the browser once)."""
        conds = self.conditions()
        self.w_go.disabled = True
        try:
            traj = self.model.sample(conds, num_images=None if conds else self.num_images, steps=self.steps,
                                     guidance=self.guidance if self.model.kind != "uncond" else 1.0,
                                     scheduler=self.scheduler, seed=self.seed,
                                     callback=self.progress_callback(self.steps), cache=True)
        finally:
            self.w_go.disabled = False
            self.done()
        self.trajectory = traj
        self.player.set_frames(trajectory_rows(traj), step_labels=traj.step_labels(),
                               column_labels=[f"#{i + 1}" for i in range(traj.batch_size)])
        self.player.step = traj.num_steps - 1
        set_png(self.final, tile(traj.final_images(), cols=min(4, traj.batch_size)), self.player.zoom)  # wraps after 4
        self.summary.value = tr("reverse.summary", n=traj.batch_size, steps=traj.num_steps, scheduler=self.scheduler,
                               guidance=traj.meta["guidance"], seed=self.seed)
        return traj
