"""NoiseInspector: the noise predictor's training view — true ε against the model's ε̂.

Training pairs come from the forward process: x0 and t and ε make x_t; the denoiser predicts ε̂
from x_t, t and the condition; the loss is ‖ε − ε̂‖², and x̂0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ is the clean
image ε̂ implies. The guidance section shows ε̂ with and without the condition and their guided mix.
"Train one step" runs one optimiser step (`objective.train_step`) on a private copy of the
denoiser (the shown model is never changed) and shows the copy's ε̂, x̂0 and error beside the
original model's on the same pair.
"""
from __future__ import annotations

import copy
import html

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..data.domain import data_image, example_count
from ..diffusion.forward import check_images, predict_x0
from ..diffusion.guidance import guided_prediction, visibility_gain
from ..diffusion.objective import noise_prediction, train_step
from ..diffusion.trajectory import NOISE_RANGE, to_uint8_image, to_uint8_noise
from .base import WIDE, View, button, default_model, explain, guarded, heading, heavy, notice
from ..errors import DiffvizError
from .base import Float, Int  # numpy scalars are numbers
from .compare import picture_grid
from .charts import swap
from .guidance import guidance_warning
from .i18n import tr
from .reverse import condition_control

LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)


def check_example(model, index: int) -> int:
    """Validator body for a view's `index` trait: an example of the model's data set."""
    n = example_count(model)
    if not 0 <= index < n:
        raise traitlets.TraitError(tr("notices.example", max=n - 1, value=index))
    return index


class NoiseInspector(View):
    """x0 → (t, ε) → x_t → ε̂ and x̂0; error map and MSE; cond vs uncond; train one step on a copy."""

    t = Int(500)
    noise_seed = Int(0)
    index = Int(0)
    guidance = Float(3.0)
    lr = Float(3e-5)

    def __init__(self, model=None, zoom: int | None = None):
        super().__init__()
        self.model = default_model(model)
        self.zoom = zoom  # None: every picture about 128 px wide
        self.student = None  # the trainable copy
        self.optimizer = None
        self.loss_history: list[tuple[float, float]] = []  # (before, after) per step
        self.steps_trained = 0
        self.student_last = None
        self.shown: dict[str, np.ndarray] = {}  # every picture on screen, by name (tests and notebooks read them)
        self.x0, cond = data_image(self.model, 0)
        self.condition = self.x0_condition = cond
        self.x0_generated = False
        self._syncing = False
        self._pair = None  # (x0, t, noise seed, condition) of the pair shown
        T = self.model.schedule.num_train_timesteps
        self.w_t = W.IntSlider(min=0, max=T - 1, description="t", continuous_update=False, layout=W.Layout(width="340px"))
        self.w_seed = W.IntText(description=tr("noise.noise_seed"), style=WIDE, layout=W.Layout(width="190px"))
        self.w_index = W.IntText(description=tr("noise.example"), style=WIDE, layout=W.Layout(width="160px"))
        self.w_guidance = W.FloatSlider(min=0, max=10, step=0.5, description=tr("common.guidance") + " w", style=WIDE,
                                        disabled=self.model.kind == "uncond", continuous_update=False,
                                        layout=W.Layout(width="360px"))
        self.w_lr = W.Dropdown(options=[(f"{v:g}", v) for v in LEARNING_RATES], description=tr("noise.lr"), style=WIDE,
                               layout=W.Layout(width="200px"))
        self.w_cond = condition_control(self.model)
        self.w_train = button("noise.train_step", primary=True, icon="graduation-cap")
        self.w_train.on_click(lambda _: self.train_step())
        self.w_generated = button("noise.use_generated", icon="magic")
        self.w_generated.on_click(lambda _: self.submit(self.use_generated))
        self.w_reset = button("noise.reset")
        self.w_reset.on_click(lambda _: self.reset_student())
        self.guidance = self.model.default_guidance if self.model.kind != "uncond" else 1.0
        for widget, name in [(self.w_t, "t"), (self.w_seed, "noise_seed"), (self.w_index, "index"),
                             (self.w_guidance, "guidance"), (self.w_lr, "lr")]:
            self.bind(name, widget)
        if self.w_cond is not None:
            if isinstance(self.w_cond, W.Text):
                self.w_cond.continuous_update = False  # recompute when the prompt is done, not per key
            self.w_cond.value = cond
            self.w_cond.observe(self._condition_typed, "value")
        self.condition_note = W.HTML()
        self.pictures = W.VBox()
        self.stats = W.HTML()
        self.guidance_note = W.HTML(layout=W.Layout(display="none"))
        self.guided_pictures = W.VBox()
        self.diff_note = W.HTML()
        self.train_info = W.HTML()
        self.train_pictures = W.Box(layout=W.Layout(flex_flow="row wrap", align_items="flex-end", width="100%"))
        row = dict(layout=W.Layout(flex_flow="row wrap", align_items="center"))
        controls = W.VBox([W.HBox([self.w_index] + ([self.w_cond] if self.w_cond is not None else []) + [self.w_generated], **row),
                           self.condition_note, W.HBox([self.w_t, self.w_seed], **row)])
        guidance = [heading("noise.guidance_title"), self.w_guidance, self.guidance_note, self.guided_pictures, self.diff_note]
        self.children = [heading("noise.title"), explain("noise.explain"), notice("noise.notice"), self.banner, controls,
                         self.progress, self.pictures, self.stats] + (guidance if self.model.conditioner is not None else []) + [
                         heading("noise.train_title"), W.HBox([self.w_lr, self.w_train, self.w_reset], **row), self.train_info,
                         self.train_pictures]
        self._ready = True
        self.refresh()

    # ---- API ----------------------------------------------------------------------------
    @guarded
    def set_x0(self, image) -> None:
        """Inspect another clean image: a tensor (C, H, W) or (1, C, H, W) in [-1, 1] of the model's pixel shape."""
        self._set_x0(image)
        self.refresh()

    def _set_x0(self, image) -> None:
        x = check_images(image, "x0")
        if x.shape[0] != 1 or x.shape[1:] != self.x0.shape:
            raise DiffvizError(f"x0 must be one image of shape {tuple(self.x0.shape)} (C, H, W) in [-1, 1] for this model, "
                             f"got {tuple(x.shape)}")
        self.x0 = x[0].detach().float().cpu()

    @heavy
    def use_generated(self, steps: int = 20) -> torch.Tensor:
        """Generate one image for the current condition (seed = noise seed) and inspect it as x0."""
        cond = None if self.model.conditioner is None else [self.condition]
        traj = self.model.sample(cond, num_images=None if cond else 1, steps=steps, seed=self.noise_seed,
                                 decode_steps=False, callback=self.progress_callback(steps))
        self.done()
        self._set_x0((traj.final_decoded if self.model.latent else traj.final)[:1].cpu().clamp(-1, 1))
        self.x0_condition, self.x0_generated = self.condition, True
        self.refresh()
        return self.x0

    @traitlets.validate("t")
    def _check_t(self, proposal):
        T = self.model.schedule.num_train_timesteps
        if not 0 <= proposal["value"] < T:
            raise traitlets.TraitError(f"t must be in [0, {T - 1}], got {proposal['value']}")
        return proposal["value"]

    _check_index = traitlets.validate("index")(lambda self, proposal: check_example(self.model, proposal["value"]))

    @traitlets.validate("noise_seed")
    def _check_seed(self, proposal):
        if not 0 <= proposal["value"] < 2**63:
            raise traitlets.TraitError(tr("notices.seed", value=proposal["value"]))
        return proposal["value"]

    @traitlets.validate("guidance")
    def _check_guidance(self, proposal):
        w = proposal["value"]
        if not 0 <= w < float("inf"):
            raise traitlets.TraitError(f"guidance must be a finite number >= 0, got {w}")
        return w

    @traitlets.validate("lr")
    def _check_lr(self, proposal):
        if not 0 < proposal["value"] <= 0.1:
            raise traitlets.TraitError(f"learning rate must be in (0, 0.1], got {proposal['value']}")
        return proposal["value"]

    def _condition_typed(self, change):
        if not self._syncing:
            self.set_condition(change["new"])

    @guarded
    def set_condition(self, cond) -> None:
        """Condition the prediction on another prompt (text model) or class (class model)."""
        if self.model.kind == "text":
            self.model.conditioner.check_prompts(cond)
        else:
            self.model.conditioner.check_labels(cond)
        self.condition = cond
        if self.w_cond is not None and self.w_cond.value != cond:
            self._show_condition(cond)
        self.refresh()

    def _show_condition(self, cond) -> None:
        self._syncing = True
        try:
            self.w_cond.value = cond
        finally:
            self._syncing = False

    def _cond(self, null: bool = False):
        if self.model.conditioner is None:
            return None
        return self.model.conditioner.null(1) if null else self.model.conditioner.encode([self.condition])

    @torch.no_grad()
    def inspect(self, unet=None):
        """One training pair and the model's prediction on it (a `NoisePrediction`)."""
        z0 = self.model.encode_images(self.x0[None].to(self.model.device))
        g = torch.Generator(device=z0.device).manual_seed(self.noise_seed)
        return noise_prediction(unet or self.model.unet, self.model.schedule, z0, self.t, self._cond(), generator=g)

    @torch.no_grad()
    def _predict(self, unet):
        """`unet`'s prediction on the pair shown above (same x0, t, ε and condition)."""
        out = self.last
        return noise_prediction(unet, self.model.schedule, out.x0, out.t, self._cond(), noise=out.noise)

    @traitlets.observe("t", "noise_seed", "guidance")
    def _changed(self, change):
        if getattr(self, "_ready", False):
            self.refresh()

    @traitlets.observe("lr")
    def _new_lr(self, change):
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = change["new"]

    @traitlets.observe("index")
    def _new_example(self, change):
        if not getattr(self, "_ready", False):
            return
        self.x0, cond = data_image(self.model, int(change["new"]))
        self.x0_condition, self.x0_generated = cond, False
        if self.w_cond is not None:  # the condition follows the example: its own caption or class
            self.condition = cond
            self._show_condition(cond)
        self.refresh()

    # ---- pictures -------------------------------------------------------------------------
    def _describe(self, cond) -> str:
        if self.model.kind == "class":
            return html.escape(self.model.conditioner.class_names[int(cond)])
        return html.escape(repr(str(cond)))

    def _condition_text(self) -> str:
        if self.model.conditioner is None:
            return ""
        what = tr("noise.caption" if self.model.kind == "text" else "noise.class")
        cond, own = self._describe(self.condition), self._describe(self.x0_condition)
        if self.x0_generated:
            text = tr("noise.condition_generated", cond=cond) if self.condition == self.x0_condition else \
                tr("noise.generated_other", cond=cond, own=own)
        elif self.condition == self.x0_condition:
            text = tr("noise.condition_own", cond=cond, what=what)
        else:
            text = tr("noise.condition_edited", cond=cond, what=what, own=own)
            return f"<div style='color:#8a4b00;font-weight:600;margin:2px 0 6px'>⚠ {text}</div>"
        return f"<div style='color:#333;margin:2px 0 6px'>{text}</div>"

    def _image(self, x: torch.Tensor) -> np.ndarray:
        """A picture of something in image space ((1, C, H, W) pixels in [-1, 1])."""
        return to_uint8_image(x[0])

    def _space(self, x: torch.Tensor) -> np.ndarray:
        """A picture of something in the denoiser's space: pixels, or the latent's channels as grey tiles."""
        return to_uint8_noise(x[0]) if self.model.latent else to_uint8_image(x[0])

    @staticmethod
    def _noise(x: torch.Tensor) -> np.ndarray:
        return to_uint8_noise(x[0])

    @staticmethod
    def _error(err: torch.Tensor) -> np.ndarray:
        return to_uint8_image(err[0].clamp(0, 1) * 2 - 1)  # |ε − ε̂|: black 0 … white ≥ 1

    def _clean_estimate(self, out_x_t, eps, alpha_bar) -> np.ndarray:
        """x̂0 implied by ε̂, as an image (decoded for latent models)."""
        x0 = predict_x0(out_x_t, eps, alpha_bar, clip=self.model.sample_range)
        return self._image(self.model.decode_latents(x0) if self.model.latent else x0)

    def _grid(self, items: list[tuple[str, np.ndarray]]) -> W.GridBox:
        self.shown.update(items)
        return picture_grid(items, self.zoom)

    @guarded
    def refresh(self) -> None:
        out = self.inspect()
        self.last = out
        self.condition_note.value = self._condition_text()
        x0_hat = self._clean_estimate(out.x_t, out.eps_pred, out.alpha_bar)
        self.shown = {}
        if self.model.latent:
            h, w = out.x_t.shape[-2:]
            swap(self.pictures, [
                W.HTML(f"<b>{tr('noise.image_row')}</b>"),
                self._grid([(tr("noise.x0"), self._image(self.x0[None])), (tr("noise.x0_decoded"), x0_hat)]),
                W.HTML(f"<b>{tr('noise.latent_row')}</b>"),
                self._grid([(tr("noise.latent_xt"), self._noise(out.x_t)), (tr("noise.eps"), self._noise(out.noise)),
                            (tr("noise.eps_pred"), self._noise(out.eps_pred)), (tr("noise.error"), self._error(out.error))]),
                W.HTML(f"<div style='color:#555;font-size:12px'>{tr('noise.latent_note', h=h, w=w)}</div>")])
        else:
            swap(self.pictures, [self._grid([
                (tr("noise.x0"), self._image(out.x0)), (tr("noise.xt"), self._image(out.x_t)), (tr("noise.eps"), self._noise(out.noise)),
                (tr("noise.eps_pred"), self._noise(out.eps_pred)), (tr("noise.x0_pred"), x0_hat),
                (tr("noise.error"), self._error(out.error))])])
        self.stats.value = tr("noise.mse", mse=float(out.loss), t=self.t, ab=float(out.alpha_bar[0]))
        if self.model.conditioner is not None:
            self._show_guidance(out)
        pair = (self.x0, self.t, self.noise_seed, self.condition)
        moved = self._pair is not None and not (torch.equal(pair[0], self._pair[0]) and pair[1:] == self._pair[1:])
        self._pair = pair
        if self.student is not None:
            self._show_training()
            if moved:  # a new pair: the copy's losses so far were on another one
                self.loss_history = []
                self.train_info.value = tr("noise.new_pair", n=self.steps_trained, mse=float(self.student_last.loss),
                                          orig=float(out.loss))

    def _show_guidance(self, out) -> None:
        with torch.no_grad():
            g = guided_prediction(self.model.unet, out.x_t, out.t, None, self._cond(null=True), self.guidance,
                                  eps_cond=out.eps_pred, schedule=self.model.schedule)
        k = visibility_gain(g.delta, NOISE_RANGE)
        swap(self.guided_pictures, [self._grid([
            (tr("noise.eps_cond"), self._noise(g.eps_cond)), (tr("noise.eps_uncond"), self._noise(g.eps_uncond)),
            (tr("noise.scaled_diff", k=k) if k > 1 else tr("noise.diff"), self._noise(g.delta * k)),
            (tr("noise.guided"), self._noise(g.eps)),
            (tr("noise.guided_x0"), self._clean_estimate(out.x_t, g.eps, out.alpha_bar))])])
        self.diff_gain = k
        note = tr("noise.diff_note" if k > 1 else "noise.diff_note_same", w=self.guidance, peak=float(g.delta.abs().max()), k=k)
        self.diff_note.value = f"<div style='color:#555;font-size:12px;max-width:56em'>{note}</div>"
        message = guidance_warning(self.model, self.guidance)
        self.guidance_note.value = "" if message is None else (
            f'<div class="dv-notice" style="background:#fff8e1;color:#5d4300;padding:6px 12px;border-radius:4px;'
            f'border:1px solid #ffe08a;max-width:56em">ℹ {html.escape(message)}</div>')
        self.guidance_note.layout.display = "none" if message is None else ""

    def _show_training(self) -> None:
        """The trained copy beside the original model, on the pair shown above."""
        out, new = self.last, self._predict(self.student)
        self.student_last = new
        boxes = []
        for key, pred, extra in [("original", out, {}), ("trained", new, {"n": self.steps_trained})]:
            items = [(tr("noise.eps_pred"), self._noise(pred.eps_pred)),
                     (tr("noise.x0_decoded" if self.model.latent else "noise.x0_pred"),
                      self._clean_estimate(pred.x_t, pred.eps_pred, pred.alpha_bar)),
                     (tr("noise.error"), self._error(pred.error))]
            self.shown.update({f"{key}: {name}": img for name, img in items})
            boxes.append(W.VBox([W.HTML(f"<b>{tr(f'noise.{key}_row', mse=float(pred.loss), **extra)}</b>"),
                                 picture_grid(items, self.zoom, columns=len(items))], layout=W.Layout(margin="0 24px 8px 0", max_width="100%")))
        swap(self.train_pictures, boxes)

    # ---- training ---------------------------------------------------------------------------
    def reset_student(self) -> None:
        """Forget the trained copy (the next step starts again from the original weights)."""
        self.student = self.optimizer = self.student_last = None
        self.loss_history = []
        self.steps_trained = 0
        self.train_info.value = ""
        swap(self.train_pictures, [])

    @guarded
    def train_step(self) -> tuple[float, float]:
        """One optimiser step on a copy of the denoiser for the pair shown; returns (loss before, loss after).

        The copy stays in eval() mode (no dropout, no condition dropout) and trains on exactly the
        pair shown above — same x0, t, ε and condition — so the loss before its first step is the MSE
        shown for the original model.
        """
        if self.student is None:
            self.student = copy.deepcopy(self.model.unet).eval()
            self.optimizer = torch.optim.Adam(self.student.parameters(), lr=self.lr)
        out = self.last
        before = train_step(self.student, self.optimizer, self.model.schedule, out.x0, out.t, self._cond(), noise=out.noise)
        self.steps_trained += 1
        self._show_training()
        after = float(self.student_last.loss)
        self.loss_history.append((before, after))
        losses = [self.loss_history[0][0]] + [a for _, a in self.loss_history]
        self.train_info.value = (tr("noise.trained", n=self.steps_trained, before=before, after=after, orig=float(out.loss))
                                 + "<br><span style='color:#555;font-size:12px'>"
                                 + tr("noise.history", losses=" → ".join(f"{v:.4f}" for v in losses)) + "</span>"
                                 + (f"<br>{tr('noise.overshot', lr=self.lr)}" if after > before else ""))
        return before, after
