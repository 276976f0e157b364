"""ForwardProcess: an image drowning in noise, step by step, beside its noise schedule."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..utils import to_unit
from ..diffusion.forward import check_images, forward_process, forward_strip
from ..diffusion.schedule import Schedule
from ..diffusion.trajectory import to_uint8_image
from .base import WIDE, View, explain, guarded, heading, image_widget, notice, set_png, zoom_for
from ..errors import DiffvizError, check_int
from .base import Int  # numpy scalars are numbers
from .charts import histogram_figure, move_marker, replace_figure, schedule_figure, update_trace
from .i18n import tr
from .player import FramePlayer

SCHEDULES = ["linear", "scaled_linear", "cosine"]
MAX_INDEX = 10_000  # data-set images one can pick (the shapes are generated: index + 1 of them)
SOURCES = ["shapes", "digits"]
STRIP_LENGTH = 21


def sample_image(source: str = "shapes", index: int = 0) -> torch.Tensor:
    """One data-set image (C, H, W) in [-1, 1]: the shapes data or the scikit-learn digits."""
    if source not in SOURCES:
        raise DiffvizError(f"unknown image source {source!r}; allowed: {', '.join(SOURCES)}")
    index = check_int("image index", index, minimum=0, maximum=MAX_INDEX - 1)
    if source == "digits":
        from ..data.digits import load_digits_tensor

        x, _ = load_digits_tensor(32)
        return x[index % len(x)]
    from ..data.shapes import generate_shapes

    return to_unit(generate_shapes(index + 1, seed=1234, split="all").images[index])


def to_image_tensor(image) -> torch.Tensor:
    """Accept a tensor in [-1, 1], a uint8 array (H, W, 3) or a PIL image; return (C, H, W) float."""
    from PIL import Image

    if isinstance(image, Image.Image):
        from ..data.folder import pil_to_tensor

        return pil_to_tensor(image, min(64, max(image.size)))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise DiffvizError(f"a numpy image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        return to_unit(torch.from_numpy(image).permute(2, 0, 1))
    return check_images(image, "image")[0]


class ForwardProcess(View):
    """Pick an image, a schedule and T; see x_t at t, the strip across t, the schedule and the histogram."""

    t = Int(250)
    schedule = traitlets.Unicode("linear")
    num_train_timesteps = Int(1000)
    seed = Int(0)

    def __init__(self, image=None, schedule: str = "linear", num_train_timesteps: int = 1000, t: int = 250,
                 source: str = "shapes", zoom: int | None = None):
        super().__init__()
        self.image = to_image_tensor(image) if image is not None else sample_image(source)
        self.zoom = zoom or zoom_for(self.image.shape[-1], 160)
        self.w_schedule = W.Dropdown(options=option_labels(SCHEDULES), description=t_("schedule"), style=WIDE, layout=W.Layout(width="240px"))
        self.w_T = W.IntSlider(min=10, max=2000, step=10, description="T", continuous_update=False)
        self.w_t = W.IntSlider(min=0, max=num_train_timesteps - 1, description="t", continuous_update=True,
                               layout=W.Layout(width="520px", max_width="100%"))
        self.w_seed = W.IntText(description=t_("seed"), layout=W.Layout(width="170px"), style=WIDE)
        self.w_source = W.Dropdown(options=option_labels(SOURCES), value=source, description=t_("image"), style=WIDE, layout=W.Layout(width="200px"))
        self.w_index = W.IntText(value=0, description="#", layout=W.Layout(width="130px"))
        self.w_upload = W.FileUpload(accept="image/*", multiple=False, description=t_("upload"), layout=W.Layout(width="auto"))
        self.x_t_image = image_widget()
        self.clean_image = image_widget()
        self.caption = W.HTML()
        self.player = FramePlayer(zoom=zoom_for(self.image.shape[-1]))
        self.schedule_fig = None
        with self.hold_trait_notifications():
            self.schedule, self.num_train_timesteps, self.t = schedule, num_train_timesteps, t
        for widget, name in [(self.w_schedule, "schedule"), (self.w_T, "num_train_timesteps"), (self.w_t, "t"),
                             (self.w_seed, "seed")]:
            self.bind(name, widget)
        self.schedule_fig = schedule_figure(self.noise_schedule.as_dict(), self.t)
        self.hist_fig = histogram_figure(np.zeros(1))  # filled by refresh_t, then updated in place
        # each chart in a box of its own: replacing the schedule chart must not re-create the histogram's
        # view (a Box re-renders every child after the first one that changed)
        self.schedule_box = W.Box([self.schedule_fig], layout=W.Layout(min_width="0"))
        self.charts = W.HBox([self.schedule_box, W.Box([self.hist_fig], layout=W.Layout(min_width="0"))])
        self.w_source.observe(lambda c: self.pick(c["new"], self.w_index.value), "value")
        self.w_index.observe(lambda c: self.pick(self.w_source.value, c["new"]), "value")
        self.w_upload.observe(self._on_upload, "value")
        controls = W.VBox([W.HBox([self.w_schedule, self.w_T, self.w_seed]), W.HBox([self.w_t]),
                           W.HBox([self.w_source, self.w_index, self.w_upload])])
        pictures = W.HBox([W.VBox([W.HTML("x<sub>0</sub>"), self.clean_image]),
                           W.VBox([W.HTML("x<sub>t</sub>"), self.x_t_image]), self.caption])
        self.children = [heading("forward.title"), explain("forward.explain"), notice("forward.notice"), self.banner,
                         controls, pictures, self.charts, heading("forward.strip"), self.player]
        self.refresh()

    # ---- API ---------------------------------------------------------------------------
    @property
    def noise_schedule(self) -> Schedule:
        return Schedule.from_name(self.schedule, num_train_timesteps=self.num_train_timesteps)

    @guarded
    def set_image(self, image) -> None:
        """Show another image: a tensor in [-1, 1], a uint8 (H, W, 3) array or a PIL image."""
        self.image = to_image_tensor(image)
        self.refresh()

    @guarded
    def pick(self, source: str, index: int) -> None:
        self.image = sample_image(source, index)
        self.refresh()

    def _on_upload(self, change):
        from PIL import Image
        import io

        files = change["new"]
        if files:
            try:
                data = files[0]["content"] if isinstance(files, (list, tuple)) else next(iter(files.values()))["content"]
                self.set_image(Image.open(io.BytesIO(bytes(data))))
            except Exception as err:  # an unreadable upload is the user's input, shown inline
                self.show_error(f"{tr('forward.bad_upload')}: {err}")

    # ---- reactions ------------------------------------------------------------------------
    @traitlets.validate("t")
    def _check_t(self, proposal):
        T = self.num_train_timesteps
        if not 0 <= proposal["value"] < T:
            raise traitlets.TraitError(f"t must be in [0, {T - 1}] for T = {T}, got {proposal['value']}")
        return int(proposal["value"])

    @traitlets.validate("num_train_timesteps")
    def _check_T(self, proposal):
        if not 10 <= proposal["value"] <= 2000:
            raise traitlets.TraitError(f"T must be in [10, 2000], got {proposal['value']}")
        return int(proposal["value"])

    @traitlets.validate("schedule")
    def _check_schedule(self, proposal):
        if proposal["value"] not in SCHEDULES:
            raise traitlets.TraitError(f"unknown schedule {proposal['value']!r}; allowed: {', '.join(SCHEDULES)}")
        return proposal["value"]

    @traitlets.validate("seed")
    def _check_seed(self, proposal):
        if not 0 <= proposal["value"] < 2**63:
            raise traitlets.TraitError(tr("notices.seed", value=proposal["value"]))
        return int(proposal["value"])

    @traitlets.observe("num_train_timesteps")
    def _fit_t(self, change):  # a shorter schedule: t moves to its last step (said, not silent: the slider shows it)
        self.w_t.max = change["new"] - 1
        if self.t > change["new"] - 1:
            self.t = change["new"] - 1

    @traitlets.observe("schedule", "num_train_timesteps", "seed")
    def _on_setting(self, change):
        if self.schedule_fig is not None:  # a new schedule: new curves (rare), then the strip and the views at t
            self.schedule_fig = replace_figure(self.schedule_box, self.schedule_fig,
                                               schedule_figure(self.noise_schedule.as_dict(), self.t))
            self.refresh()

    @traitlets.observe("t")
    def _on_t(self, change):
        if self.schedule_fig is not None:
            self.refresh_t()

    def refresh(self) -> None:
        """Recompute the strip (one noise draw shared across t) and the views at t."""
        T = self.num_train_timesteps
        ts = np.unique(np.linspace(0, T - 1, STRIP_LENGTH).round().astype(int))
        strip = forward_strip(self.image[None], ts.tolist(), self.noise_schedule, generator=torch.Generator().manual_seed(self.seed))
        self.player.set_frames({"x_t": to_uint8_image(strip.x_t), "ε": to_uint8_image(strip.noise / 3)},
                               step_labels=[f"t = {int(s)} · ᾱ = {float(a):.3f}" for s, a in zip(ts, strip.alpha_bar)])
        set_png(self.clean_image, to_uint8_image(self.image), self.zoom)
        self.refresh_t()

    def refresh_t(self) -> None:
        out = forward_process(self.image[None], self.t, self.noise_schedule, generator=torch.Generator().manual_seed(self.seed))
        self.current = out
        set_png(self.x_t_image, to_uint8_image(out.x_t[0]), self.zoom)
        a = float(out.alpha_bar[0])
        self.caption.value = (f"<div style='padding:12px;font-size:15px'>t = {self.t}<br>ᾱ<sub>t</sub> = {a:.4f}<br>"
                              f"x<sub>t</sub> = {a ** 0.5:.3f}·x<sub>0</sub> + {(1 - a) ** 0.5:.3f}·ε</div>")
        move_marker(self.schedule_fig, self.t)
        update_trace(self.hist_fig, 0, x=out.x_t.flatten().numpy())


def t_(name: str) -> str:
    return tr(f"common.{name}")


def option_labels(values: list[str]) -> list[tuple[str, str]]:
    """(label in the viewer's language, value) pairs for a Dropdown: the value stays the code name."""
    return [(tr(f"options.{v}"), v) for v in values]
