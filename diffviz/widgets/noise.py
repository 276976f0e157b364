"""NoiseInspector: the noise predictor's training view — true ε against the model's ε̂.

Training pairs come from the forward process: x0 and t and ε make x_t; the denoiser predicts ε̂
from x_t, t and the condition; the loss is ‖ε − ε̂‖². "Train one step" runs one optimiser step on
a private copy of the denoiser (the shown model is never changed) and shows the loss move.
"""
from __future__ import annotations

import copy

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..diffusion.forward import check_images
from ..diffusion.objective import noise_prediction
from ..diffusion.sampling import call_denoiser
from ..diffusion.trajectory import to_uint8_image, to_uint8_noise
from .base import View, default_model, explain, guarded, heading, image_widget
from .i18n import t
from .reverse import condition_control


def data_image(model, index: int) -> tuple[torch.Tensor, object]:
    """An image from the model's own training domain, and its condition."""
    if model.kind == "class":
        from ..data.digits import load_digits_tensor

        x, y = load_digits_tensor(model.meta.get("image_size", 16))
        x = x[index % len(x)]
        if x.shape[0] != model.unet.config.in_channels:
            x = x.expand(model.unet.config.in_channels, -1, -1)
        return x, int(y[index % len(y)])
    from ..data.shapes import generate_shapes

    d = generate_shapes(index + 1, seed=99, split="all")
    size = model.meta.get("image_size", 32)
    img = torch.nn.functional.interpolate(d.images[index:index + 1].float() / 127.5 - 1, size=(size, size), mode="bilinear")[0]
    return img, d.captions[index]


class NoiseInspector(View):
    """x0 → (t, ε) → x_t → ε̂; error map and MSE; cond vs uncond; train one step on a copy."""

    t = traitlets.Int(500)
    noise_seed = traitlets.Int(0)
    index = traitlets.Int(0)
    guidance = traitlets.Float(3.0)
    lr = traitlets.Float(1e-3)

    def __init__(self, model=None, zoom: int = 5):
        super().__init__()
        self.model = default_model(model)
        self.zoom = zoom
        self.student = None  # the trainable copy
        self.optimizer = None
        self.loss_history: list[float] = []
        self.x0, cond = data_image(self.model, 0)
        self.condition = cond
        self.w_t = W.IntSlider(min=0, max=self.model.schedule.num_train_timesteps - 1, description="t", continuous_update=False)
        self.w_seed = W.IntText(description=t("noise.noise_seed"), layout=W.Layout(width="180px"))
        self.w_index = W.IntText(description=t("noise.example"), layout=W.Layout(width="180px"))
        self.w_guidance = W.FloatSlider(min=0, max=10, step=0.5, description="w", disabled=self.model.kind == "uncond")
        self.w_cond = condition_control(self.model)
        self.w_train = W.Button(description=t("noise.train_step"), icon="graduation-cap")
        self.w_train.on_click(lambda _: self.train_step())
        self.w_generated = W.Button(description=t("noise.use_generated"), icon="magic")
        self.w_generated.on_click(lambda _: self.use_generated())
        self.w_reset = W.Button(description=t("noise.reset"))
        self.w_reset.on_click(lambda _: self.reset_student())
        for widget, name in [(self.w_t, "t"), (self.w_seed, "noise_seed"), (self.w_index, "index"), (self.w_guidance, "guidance")]:
            W.link((self, name), (widget, "value"))
        if self.w_cond is not None:
            self.w_cond.value = cond
            self.w_cond.observe(lambda c: self.set_condition(c["new"]), "value")
        self.pictures = W.HBox()
        self.guided_pictures = W.HBox()
        self.stats = W.HTML()
        self.train_info = W.HTML()
        self.guidance = self.model.default_guidance if self.model.kind != "uncond" else 1.0
        controls = W.VBox([W.HBox([self.w_index] + ([self.w_cond] if self.w_cond is not None else []) + [self.w_generated]),
                           W.HBox([self.w_t, self.w_seed, self.w_guidance])])
        self.children = [heading("noise.title"), explain("noise.explain"), self.banner, controls, self.progress, self.pictures,
                         self.stats, heading("noise.guidance_title"), self.guided_pictures,
                         heading("noise.train_title"), W.HBox([self.w_train, self.w_reset]), self.train_info]
        self._ready = True
        self.refresh()

    # ---- API ----------------------------------------------------------------------------
    @guarded
    def set_x0(self, image) -> None:
        """Inspect another clean image: a tensor (C, H, W) or (1, C, H, W) in [-1, 1] of the model's pixel shape."""
        x = check_images(image, "x0")
        if x.shape[0] != 1 or x.shape[1:] != self.x0.shape:
            raise ValueError(f"x0 must be one image of shape {tuple(self.x0.shape)} (C, H, W) in [-1, 1] for this model, "
                             f"got {tuple(x.shape)}")
        self.x0 = x[0].detach().float().cpu()
        self.refresh()

    @guarded
    def use_generated(self, steps: int = 20) -> torch.Tensor:
        """Generate one image for the current condition (seed = noise seed) and inspect it as x0."""
        cond = None if self.model.conditioner is None else [self.condition]
        traj = self.model.sample(cond, num_images=None if cond else 1, steps=steps, seed=self.noise_seed,
                                 decode_steps=False, callback=self.progress_callback(steps))
        self.done()
        self.set_x0((traj.final_decoded if self.model.latent else traj.final)[:1].cpu().clamp(-1, 1))
        return self.x0

    @traitlets.validate("t")
    def _check_t(self, proposal):
        T = self.model.schedule.num_train_timesteps
        if not 0 <= proposal["value"] < T:
            raise traitlets.TraitError(f"t must be in [0, {T - 1}], got {proposal['value']}")
        return proposal["value"]

    @guarded
    def set_condition(self, cond) -> None:
        self.model.conditioner.check_prompts(cond) if self.model.kind == "text" else self.model.conditioner.check_labels(cond)
        self.condition = cond
        self.refresh()

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

    @traitlets.observe("t", "noise_seed", "guidance")
    def _changed(self, change):
        if getattr(self, "_ready", False):
            self.refresh()

    @traitlets.observe("index")
    def _new_example(self, change):
        if not getattr(self, "_ready", False):
            return
        self.x0, cond = data_image(self.model, int(change["new"]))
        if self.w_cond is not None:
            self.w_cond.value = cond  # triggers set_condition -> refresh
        else:
            self.refresh()

    def _pics(self, items):
        return [W.VBox([W.HTML(f"<b>{name}</b>"), image_widget(img, self.zoom)]) for name, img in items]

    def _show(self, x: torch.Tensor, noise_like: bool) -> np.ndarray:
        return to_uint8_noise(x[0]) if noise_like or self.model.latent else to_uint8_image(x[0])

    @guarded
    def refresh(self) -> None:
        out = self.inspect()
        err = (out.noise - out.eps_pred).abs()
        items = [(t("noise.x0"), self._show(out.x0, False)), ("ε", self._show(out.noise, True)),
                 (t("noise.xt"), self._show(out.x_t, False)), ("ε̂", self._show(out.eps_pred, True)),
                 ("|ε − ε̂|", self._show(err * 2 - 3, True))]
        self.pictures.children = self._pics(items)
        self.last = out
        self.stats.value = t("noise.mse", mse=float(out.loss), t=self.t, ab=float(self.model.schedule.alphas_cumprod[self.t]))
        if self.model.conditioner is not None:
            with torch.no_grad():
                uncond = call_denoiser(self.model.unet, out.x_t, out.t, self._cond(null=True))
            diff = self.guidance * (out.eps_pred - uncond)
            self.guided_pictures.children = self._pics([
                (t("noise.eps_cond"), self._show(out.eps_pred, True)), (t("noise.eps_uncond"), self._show(uncond, True)),
                (t("noise.scaled_diff", w=self.guidance), self._show(diff, True)),
                (t("noise.guided"), self._show(uncond + diff, True))])

    def reset_student(self) -> None:
        self.student = copy.deepcopy(self.model.unet).train()
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=self.lr)
        self.loss_history = []
        self.train_info.value = ""

    @guarded
    def train_step(self) -> tuple[float, float]:
        """One optimiser step on a copy of the denoiser for this training pair; returns (before, after)."""
        if self.student is None:
            self.reset_student()
        z0 = self.model.encode_images(self.x0[None].to(self.model.device))
        g = lambda: torch.Generator(device=z0.device).manual_seed(self.noise_seed)  # noqa: E731
        out = noise_prediction(self.student, self.model.schedule, z0, self.t, self._cond(), generator=g())
        self.optimizer.zero_grad()
        out.loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            after = noise_prediction(self.student, self.model.schedule, z0, self.t, self._cond(), generator=g()).loss.item()
        before = out.loss.item()
        self.loss_history.append(after)
        self.train_info.value = t("noise.trained", n=len(self.loss_history), before=before, after=after)
        return before, after
