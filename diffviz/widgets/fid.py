"""FidExplorer: what FID measures — features, two fitted Gaussians, and how FID depends on N.

All numbers come from `diffviz.metrics.model_fid` (generation, FID, its real-vs-real floor, KID,
FID vs N, the PCA picture); this view holds the controls and shows the report.
"""
from __future__ import annotations


import ipywidgets as W
import numpy as np
import traitlets

import os

from ..metrics import ClassifierFeatures, SingularCovarianceWarning, model_fid
from ..metrics.features import INCEPTION_ENV, InceptionFeatures
from ..data.domain import has_dataset
from ..metrics.fid import max_n
from ..metrics.kid import KID_MIN_IMAGES
from .base import WIDE, View, button, default_model, explain, heading, heavy, notice, png_bytes, tile
from ..errors import DiffvizError
from .base import Int  # numpy scalars are numbers
from .charts import fid_figures, line_figure, replace_figure, scatter_figure, swap
from .i18n import tr

GRID_IMAGES, GRID_COLS, GRID_WIDTH = 32, 8, 480  # images shown per set, columns, about this many pixels wide
CHART_WIDTH = 480  # two charts side by side fit a 1024-pixel-wide page


def fitted_image(image: np.ndarray) -> W.Image:
    """A picture that shrinks to its box (never wider than the page), pre-zoomed to about GRID_WIDTH px."""
    zoom = max(1, round(GRID_WIDTH / image.shape[1]))
    return W.Image(value=png_bytes(image, zoom), format="png",
                   layout=W.Layout(max_width="100%", height="auto", object_fit="contain"))


class FidExplorer(View):
    own_notes = View.own_notes + (SingularCovarianceWarning,)  # said once, in the page's language
    """Generate N images in batches; FID with its real-vs-real floor, KID, FID-vs-N, grids and the feature space."""

    n = Int(128)
    batch_size = Int(32)
    steps = Int(20)
    seed = Int(0)

    def __init__(self, model=None, extractor=None, run: bool = False):
        super().__init__()
        self.model = default_model(model)
        if extractor is None and self.model.classifier is not None:
            extractor = ClassifierFeatures(self.model.classifier, name=self.model.name)
        if extractor is None and os.environ.get(INCEPTION_ENV):  # e.g. a Stable Diffusion model: standard FID features
            extractor = InceptionFeatures(device=self.model.device)
        self.extractor = extractor
        self.report = None
        self.has_real = has_dataset(self.model)  # real images to compare with: the model's recorded data set
        limit = (max_n(self.model) if self.has_real else None) or 1024
        self.w_n = self.bind("n", W.IntSlider(min=16, max=min(1024, limit // 16 * 16), step=16, description="N"))
        self.w_batch = self.bind("batch_size", W.IntSlider(min=4, max=128, step=4, description=tr("fid.batch"), style=WIDE))
        self.w_steps = self.bind("steps", W.IntSlider(min=5, max=100, description=tr("common.steps"), style=WIDE))
        self.w_go = button("fid.run", primary=True)
        self.w_go.on_click(lambda _: self.submit(self.run))
        self.result = W.HTML()
        self.grids = W.HBox([W.HTML(f"<i style='color:#555'>{tr('fid.placeholder')}</i>")],
                            layout=W.Layout(width="100%", flex_flow="row wrap", grid_gap="12px"))
        self.curve = line_figure([], {}, tr("fid.curve_title"), "N", "FID", width=CHART_WIDTH)
        self.space = scatter_figure({}, tr("fid.space_title"), width=CHART_WIDTH)
        self.curve_box = W.Box([self.curve], layout=W.Layout(flex="0 1 auto", min_width="0"))
        self.space_box = W.Box([self.space], layout=W.Layout(flex="0 1 auto", min_width="0"))
        self.charts = W.HBox([self.curve_box, self.space_box],  # shown with the first result (no empty axes)
                             layout=W.Layout(width="100%", flex_flow="row wrap", display="none"))
        self.children = [heading("fid.title"), explain("fid.explain"), notice("fid.notice"), self.banner,
                         W.HBox([self.w_n, self.w_batch, self.w_steps, self.w_go], layout=W.Layout(flex_flow="row wrap")),
                         self.progress, self.result, self.grids, self.charts]
        if self.extractor is None or not self.has_real:
            self.show_error(tr("fid.no_extractor") if self.extractor is None else tr("fid.no_dataset", model=self.model.name))
            self.w_go.disabled = True
        elif run:  # on the worker thread: the view shows now with its progress bar
            self.submit(self.run)

    @traitlets.validate("n")
    def _check_n(self, proposal):
        n = proposal["value"]
        if n < KID_MIN_IMAGES:
            raise traitlets.TraitError(tr("fid.too_few", min=KID_MIN_IMAGES))
        limit = max_n(self.model) if self.has_real else None
        if limit is not None and n > limit:
            raise traitlets.TraitError(tr("fid.too_many", n=n, max=limit))
        return n

    @traitlets.validate("batch_size", "steps")
    def _check_batch_steps(self, proposal):
        name, v = proposal["trait"].name, proposal["value"]
        lo, hi = (1, 1024) if name == "batch_size" else (1, self.model.schedule.num_train_timesteps)
        if not lo <= v <= hi:
            raise traitlets.TraitError(f"{name} must be in [{lo}, {hi}], got {v}")
        return v

    @property
    def fid(self) -> float | None:
        return None if self.report is None else self.report.fid

    @property
    def floor(self) -> float | None:
        return None if self.report is None else self.report.floor

    @property
    def kid(self):
        return None if self.report is None else self.report.kid

    @property
    def fid_curve(self):
        return None if self.report is None else self.report.curve

    @heavy
    def run(self):
        if self.extractor is None:
            raise DiffvizError(tr("fid.no_extractor"))
        if not self.has_real:
            raise DiffvizError(tr("fid.no_dataset", model=self.model.name))
        if self.n < KID_MIN_IMAGES:
            raise DiffvizError(tr("fid.too_few", min=KID_MIN_IMAGES))
        limit = max_n(self.model)
        if limit is not None and self.n > limit:
            raise DiffvizError(tr("fid.too_many", n=self.n, max=limit))
        batches = -(-self.n // self.batch_size)
        report = model_fid(self.model, self.n, steps=self.steps, batch_size=self.batch_size, seed=self.seed,
                           extractor=self.extractor, progress=self.progress_callback(batches))
        self.done()
        self.report = report
        self.generated = report.generated_images
        if report.singular:
            self.show_notice(tr("fid.singular", n=report.n, dim=report.dim))
        verdict = tr("fid.above_floor" if report.above_floor else "fid.within_floor", n=report.n, limit=report.floor_limit)
        self.result.value = (tr("fid.result", fid=report.fid, floor=report.floor, floor_std=report.floor_std,
                               sets=report.floor_sets, kid=report.kid.mean * 1000, kid_std=report.kid.std * 1000,
                               n=report.n, extractor=report.extractor) + f"<br>{verdict}")
        self._show_grids(report)
        self._show_charts(report)
        return report.fid

    def _show_grids(self, report) -> None:
        k = min(GRID_IMAGES, report.n)
        boxes = []
        for key, images in (("fid.real_title", report.real_images), ("fid.generated_title", report.generated_images)):
            boxes.append(W.VBox([W.HTML(f"<b>{tr(key, k=k, n=report.n)}</b>"), fitted_image(tile(images[:k], cols=GRID_COLS))],
                                layout=W.Layout(flex="1 1 300px", min_width="0", max_width=f"{GRID_WIDTH + 20}px")))
        swap(self.grids, boxes)

    def _show_charts(self, report) -> None:
        curve, space = fid_figures(report, width=CHART_WIDTH)
        self.curve = replace_figure(self.curve_box, self.curve, curve)
        self.charts.layout.display = ""
        self.space = replace_figure(self.space_box, self.space, space)
