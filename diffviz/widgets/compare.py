"""GuidanceSweep and SchedulerCompare: one seed, many settings, images side by side."""
from __future__ import annotations

import html
import warnings

import ipywidgets as W
import numpy as np
import traitlets

from ..data.domain import has_dataset
from ..metrics.kid import KID_MIN_IMAGES
from ..metrics.stats import SingularCovarianceWarning
from .base import WIDE, View, button, default_model, explain, guarded, heading, heavy, image_widget, notice
from ..errors import DiffvizError
from .base import Float, Int  # numpy scalars are numbers
from .charts import SET_COLOURS, line_figure, swap
from .guidance import guidance_warning
from .i18n import tr
from .reverse import condition_control, scheduler_options


def parse_list(text: str, cast) -> list | None:
    """"1, 2; 3" → [1, 2, 3] (cast each item), or None when an item is not a number."""
    try:
        return [cast(s) for s in text.replace(";", ",").split(",") if s.strip()]
    except ValueError:
        return None


def picture_grid(items: list[tuple[str, np.ndarray]], zoom: int | None = None, size: int = 128,
                 min_cell: int = 112, columns: int | None = None) -> W.GridBox:
    """Pictures in a grid of equal cells, each caption centred above its picture; wraps when narrow.

    zoom: one zoom for all pictures, or None to show each about `size` px wide. Captions wrap inside
    their cell, and each row's pictures are aligned at the bottom, so captions of any length line up.
    columns: a fixed number of columns (for a grid inside a box that shrinks to fit its content).
    Cells grow with the page (13 % of its width) from their zoomed size up to twice it, pixels kept crisp
    (views.css, `.dv-tiles`): 128 px tiles on a 1024 px page, about 180 px on a 1400 px one.
    """
    zooms = [zoom or max(1, round(size / img.shape[1])) for _, img in items]
    cell = max([min_cell] + [img.shape[1] * z for (_, img), z in zip(items, zooms)])
    track = f"max({cell}px, min({2 * cell}px, 13vw))"
    cells = [W.VBox([W.HTML(f"<div style='text-align:center;font-weight:600;font-size:13px;line-height:1.25;"
                            f"overflow-wrap:anywhere'>{html.escape(label)}</div>", layout=W.Layout(width="100%")),
                     image_widget(img, z)], layout=W.Layout(align_items="center", width="100%"))
             for (label, img), z in zip(items, zooms)]
    grid = W.GridBox(cells, layout=W.Layout(grid_template_columns=f"repeat({columns or 'auto-fill'}, {track})",
                                            grid_gap="10px 12px", align_items="flex-end", max_width="100%",
                                            width="auto" if columns else "100%"))
    grid.add_class("dv-tiles")
    return grid


class _Sweep(View):
    seed = Int(0)
    steps = Int(30)

    def __init__(self, model, title: str, zoom: int | None):
        super().__init__()
        self.model = default_model(model)
        self.zoom = zoom
        self.w_cond = condition_control(self.model)
        if isinstance(self.w_cond, W.Text):
            self.w_cond.continuous_update = False  # sample when the prompt is done, not per key
        self.w_seed = W.IntText(description=tr("common.seed"), style=WIDE, layout=W.Layout(width="170px"))
        self.w_go = button("compare.run", primary=True, icon="play")
        self.w_go.on_click(lambda _: self.run_boxes())
        self._list_boxes: list[tuple[str, W.Text, type, str]] = []
        self.bind("seed", self.w_seed)
        self.results = W.VBox(layout=W.Layout(max_width="100%"))
        self.extra = W.HTML()
        self.title = title

    @traitlets.validate("seed")
    def _check_seed(self, proposal):
        if not 0 <= proposal["value"] < 2**63:
            raise traitlets.TraitError(tr("notices.seed", value=proposal["value"]))
        return proposal["value"]

    def bind_list(self, name: str, box: W.Text, cast, error_key: str, fmt: str) -> None:
        """A text box of comma-separated numbers ("0, 1, 3") two-way bound to list trait `name`:
        an unreadable item shows `error_key` in the banner; the trait's validator refuses the rest."""

        def to_box(change):
            if parse_list(box.value, cast) != change["new"]:  # set from code: show it
                box.value = ", ".join(fmt.format(v) for v in change["new"])

        self._list_boxes.append((name, box, cast, error_key))
        box.observe(lambda change: self._read_box(name, box, cast, error_key), "value")
        self.observe(to_box, name)

    @guarded
    def _read_box(self, name: str, box: W.Text, cast, error_key: str) -> bool:
        """The box's text into its list trait; True when taken (a refusal shows in the banner, the text stays)."""
        values = parse_list(box.value, cast)
        if values is None:
            raise DiffvizError(tr(error_key))
        setattr(self, name, values)
        return True

    def run_boxes(self) -> None:
        """Run (the button): the list boxes' text as it is now, read again, or the refusal again (never
        the last list taken while the box shows another)."""
        if all(self._read_box(*entry) for entry in self._list_boxes):
            self.submit(self.run)

    def condition(self):
        if self.w_cond is None:
            return None
        return [self.w_cond.value]

    def _sample(self, **kw):
        cond = self.condition()
        traj = self.model.sample(cond, num_images=None if cond else 1, seed=self.seed, decode_steps=False, **kw)
        return traj.final_images()[0]


class GuidanceSweep(_Sweep):
    own_notes = View.own_notes + (SingularCovarianceWarning,)  # said once, in the page's language
    """One prompt and seed across guidance scales w (ε̂ = ε̂_uncond + w·(ε̂_cond − ε̂_uncond))."""

    scales = traitlets.List(Float(), default_value=[0.0, 1.0, 2.0, 3.0, 5.0, 8.0])
    fid_n = Int(0)  # images per scale for FID (0: off; FID needs the model's domain classifier)

    def __init__(self, model=None, run: bool = True, zoom: int | None = None, fid_n: int = 0):
        super().__init__(model, "guidance", zoom)
        self.w_scales = W.Text(value=", ".join(f"{s:g}" for s in self.scales), description=tr("compare.scales"),
                               continuous_update=False, style=WIDE, layout=W.Layout(width="260px"))
        self.bind_list("scales", self.w_scales, float, "compare.bad_scales", "{:g}")
        self.w_fid = W.IntText(description=tr("compare.fid_n"), style=WIDE, layout=W.Layout(width="230px"),
                               disabled=self.model.classifier is None or not has_dataset(self.model))
        self.fid_n = fid_n
        self.bind("fid_n", self.w_fid)
        self.images: list[np.ndarray] = []
        self.clip_scores: list[float] = []
        self.fids: list[float] = []
        self.chart = W.Box()
        tuned = W.HTML()
        if self.model.kind != "uncond":
            lo, hi = self.model.guidance_range
            tuned.value = f"<div style='margin:0 0 6px;color:#333'>{html.escape(tr('compare.tuned_range', lo=lo, hi=hi))}</div>"
        controls = W.HBox([c for c in (self.w_cond, self.w_scales, self.w_seed, self.w_fid, self.w_go) if c is not None],
                          layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.children = [heading("compare.guidance_title"), explain("compare.guidance_explain"),
                         notice("compare.guidance_notice"), tuned, self.banner,
                         controls, self.progress, self.results, self.extra, self.chart]
        if run:  # on the worker thread: the view shows now with its progress bar
            self.submit(self.run)

    @traitlets.validate("scales")
    def _check_scales(self, proposal):
        scales = proposal["value"]
        if not scales or any(not (0 <= s < float("inf")) for s in scales):
            raise traitlets.TraitError(tr("compare.bad_scales") + tr("notices.got", value=scales))
        return scales

    @traitlets.validate("fid_n")
    def _check_fid_n(self, proposal):
        if proposal["value"] != 0 and not proposal["value"] >= KID_MIN_IMAGES:
            raise traitlets.TraitError(tr("notices.fid_n", value=proposal["value"], min=KID_MIN_IMAGES))
        return proposal["value"]

    def _caption(self, w: float) -> str:
        lo, hi = self.model.guidance_range
        return f"w = {w:g}" + (" ⚠" if not lo <= w <= hi else "")

    @heavy
    def run(self):
        if self.model.kind == "uncond":
            raise DiffvizError(tr("compare.needs_condition"))
        cb = self.progress_callback(len(self.scales))
        self.images = []
        for i, w in enumerate(self.scales):
            self.images.append(self._sample(guidance=w, steps=self.steps))
            cb(i + 1, len(self.scales))
        self.done()
        swap(self.results, [picture_grid([(self._caption(w), im) for w, im in zip(self.scales, self.images)], self.zoom)])
        self.clip_scores = []
        scorer = None
        if self.model.kind == "text":
            from ..metrics.clip_score import ClipScorer

            try:
                scorer = ClipScorer.from_model(self.model)
            except DiffvizError as err:  # Stable Diffusion's text half cannot score images: say so, keep the pictures
                scorer = None
                self.extra.value = html.escape(str(err))
        if scorer is not None:
            self.clip_scores = scorer.per_image(np.stack(self.images), [self.w_cond.value] * len(self.images)).tolist()
            self.extra.value = tr("compare.clip_scores") + ": " + ", ".join(
                f"w={w:g}: {s:.1f}" for w, s in zip(self.scales, self.clip_scores))
        self.fids = self._fid_per_scale() if self.fid_n > 0 else []
        curves = {tr("common.clip_score"): self.clip_scores} if self.clip_scores else {}
        if self.fids:
            curves["FID"] = self.fids
        left = tr("common.clip_score") if self.clip_scores else ("FID" if self.fids else "")
        swap(self.chart, [line_figure(self.scales, curves, tr("compare.per_scale"), "w", left,
                                      right="FID" if self.clip_scores and self.fids else None,
                                      colours={"FID": SET_COLOURS["generated"]})] if curves else [])
        message = guidance_warning(self.model, self.scales)
        if message:  # shown in the banner by @guarded, beside any other notice (unknown prompt words)
            warnings.warn(message, UserWarning, stacklevel=2)

    def _fid_per_scale(self) -> list[float]:
        """FID of fid_n images per scale against fid_n real images (metrics.model_fid: one evaluation for all)."""
        from ..metrics import model_fid

        if self.model.classifier is None:
            raise DiffvizError(tr("fid.no_extractor"))
        if not has_dataset(self.model):
            raise DiffvizError(tr("fid.no_dataset", model=self.model.name))
        if self.fid_n < KID_MIN_IMAGES:
            raise DiffvizError(tr("fid.too_few", min=KID_MIN_IMAGES))
        total = len(self.scales)
        cb = self.progress_callback(total)
        out = []
        for i, w in enumerate(self.scales):
            report = model_fid(self.model, self.fid_n, steps=self.steps, guidance=w, seed=self.seed, batch_size=64,
                               curve=False, floor_sets=1,
                               progress=lambda done, batches, i=i: cb(i * batches + done, total * batches))
            out.append(report.fid)
        self.done()
        if report.singular:
            self.show_notice(tr("fid.singular", n=report.n, dim=report.dim))
        return out


class SchedulerCompare(_Sweep):
    """One seed across schedulers and step counts; a model imported from diffusers also (first) with the scheduler
    it ships ("model")."""

    schedulers = traitlets.List(traitlets.Unicode())
    step_counts = traitlets.List(Int(), default_value=[5, 10, 25, 50])

    def __init__(self, model=None, run: bool = True, zoom: int | None = None):
        super().__init__(model, "schedulers", zoom)
        self.schedulers = scheduler_options(self.model)
        self.w_steps = W.Text(value=", ".join(map(str, self.step_counts)), description=tr("common.steps"),
                              continuous_update=False, style=WIDE, layout=W.Layout(width="240px"))
        self.bind_list("step_counts", self.w_steps, int, "compare.bad_steps", "{}")
        self.grid: dict[tuple[str, int], np.ndarray] = {}
        controls = W.HBox([c for c in (self.w_cond, self.w_steps, self.w_seed, self.w_go) if c is not None],
                          layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.children = [heading("compare.scheduler_title"), explain("compare.scheduler_explain"),
                         notice("compare.scheduler_notice"), self.banner, controls, self.progress, self.results]
        if run:  # on the worker thread: the view shows now with its progress bar
            self.submit(self.run)

    @traitlets.validate("step_counts")
    def _check_steps(self, proposal):
        counts = proposal["value"]
        if not counts or min(counts) < 1 or max(counts) > self.model.schedule.num_train_timesteps:
            raise traitlets.TraitError(tr("compare.bad_steps") + tr("notices.got", value=counts))
        self._check_fit(self.schedulers, counts)
        return counts

    def _check_fit(self, schedulers, counts) -> None:
        """Refuse up front step counts past a scheduler's end (DPM-Solver++ and Euler stop short of T)."""
        for name in schedulers:
            try:
                self.model.check_steps(max(counts), name)
            except DiffvizError as err:
                raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("schedulers")
    def _check_schedulers(self, proposal):
        allowed = scheduler_options(self.model)
        bad = [s for s in proposal["value"] if s not in allowed]
        if bad or not proposal["value"]:
            raise traitlets.TraitError(f"schedulers must be a non-empty list from {', '.join(allowed)}; got {proposal['value']}")
        self._check_fit(proposal["value"], self.step_counts)
        return proposal["value"]

    def _label(self, name: str) -> str:
        """A caption's scheduler: the model's own by its class ("model: DDIMScheduler"), the others by name."""
        return f"model: {self.model.scheduler_config.get('_class_name', '?')}" if name == "model" else name

    @heavy
    def run(self):
        total = len(self.schedulers) * len(self.step_counts)
        cb = self.progress_callback(total)
        self.grid = {}
        rows = []
        for name in self.schedulers:
            items = []
            for n in self.step_counts:
                self.grid[(name, n)] = self._sample(scheduler=name, steps=n)
                items.append((f"{self._label(name)} · {tr('compare.steps_caption', n=n)}", self.grid[(name, n)]))
                cb(len(self.grid), total)
            rows.append(picture_grid(items, self.zoom))
        self.done()
        swap(self.results, rows)
