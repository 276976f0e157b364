"""FidExplorer: what FID measures — features, two fitted Gaussians, and how FID depends on N."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
import traitlets
from sklearn.decomposition import PCA

from ..data.domain import domain_conditions, real_images
from ..metrics import ClassifierFeatures, RunningStats, fid_from_stats, fid_vs_n, kernel_inception_distance
from ..metrics.fid import generated_features
from .base import View, default_model, explain, guarded, heading, image_widget, set_png, tile
from .charts import line_figure, replace_figure, scatter_figure
from .i18n import t


class FidExplorer(View):
    """Generate N images in batches; FID, KID, FID-vs-N with bands, grids and the feature-space picture."""

    n = traitlets.Int(128)
    batch_size = traitlets.Int(32)
    steps = traitlets.Int(20)
    seed = traitlets.Int(0)

    def __init__(self, model=None, extractor=None, run: bool = False):
        super().__init__()
        self.model = default_model(model)
        if extractor is None and self.model.classifier is not None:
            extractor = ClassifierFeatures(self.model.classifier, name=self.model.name)
        self.extractor = extractor
        self.w_n = W.IntSlider(min=16, max=1024, step=16, description="N")
        self.w_batch = W.IntSlider(min=4, max=128, step=4, description=t("fid.batch"))
        self.w_steps = W.IntSlider(min=5, max=100, description=t("common.steps"))
        self.w_go = W.Button(description=t("fid.run"), button_style="primary")
        self.w_go.on_click(lambda _: self.run())
        for widget, name in [(self.w_n, "n"), (self.w_batch, "batch_size"), (self.w_steps, "steps")]:
            W.link((self, name), (widget, "value"))
        self.result = W.HTML()
        self.real_view, self.fake_view = image_widget(), image_widget()
        self.curve = line_figure([], {}, t("fid.curve_title"), "N", "FID")
        self.space = scatter_figure({}, t("fid.space_title"))
        self.children = [heading("fid.title"), explain("fid.explain"), self.banner,
                         W.HBox([self.w_n, self.w_batch, self.w_steps, self.w_go]), self.progress, self.result,
                         W.HBox([W.VBox([W.HTML(f"<b>{t('fid.real')}</b>"), self.real_view]),
                                 W.VBox([W.HTML(f"<b>{t('fid.generated')}</b>"), self.fake_view])]),
                         W.HBox([self.curve, self.space])]
        self.charts = self.children[-1]
        if self.extractor is None:
            self.show_error(t("fid.no_extractor"))
            self.w_go.disabled = True
        elif run:
            self.run()

    @guarded
    def run(self):
        if self.extractor is None:
            raise ValueError(t("fid.no_extractor"))
        if self.n < 4:
            raise ValueError(t("fid.too_few"))
        real = real_images(self.model, self.n)[1]
        real_f = self.extractor(real)
        conds = domain_conditions(self.model, self.n)
        batches = -(-self.n // self.batch_size)
        cb = self.progress_callback(batches)
        feats, images = [], []
        for i in range(batches):  # one batch at a time so the progress bar moves
            k = min(self.batch_size, self.n - i * self.batch_size)
            c = None if conds is None else [conds[(i * self.batch_size + j) % len(conds)] for j in range(k)]
            traj = self.model.sample(c, num_images=None if c else k, steps=self.steps, seed=self.seed + i, decode_steps=False)
            images.append(traj.final_images())
            feats.append(self.extractor(images[-1]))
            cb(i + 1, batches)
        self.done()
        fake_f = torch.cat(feats)
        self.generated = np.concatenate(images)
        real_stats = RunningStats.from_features(real_f)
        self.fid = fid_from_stats(real_stats, RunningStats.from_features(fake_f))
        self.kid = kernel_inception_distance(real_f, fake_f, subsets=20, subset_size=min(100, self.n))
        half = self.n // 2
        self.floor = fid_from_stats(RunningStats.from_features(real_f[:half]), RunningStats.from_features(real_f[half:]))
        self.result.value = t("fid.result", fid=self.fid, kid=self.kid.mean * 1000, kid_std=self.kid.std * 1000,
                              n=self.n, floor=self.floor, extractor=self.extractor.name)
        set_png(self.real_view, tile(real[:32], cols=8), 3)
        set_png(self.fake_view, tile(self.generated[:32], cols=8), 3)
        ns = sorted({max(8, self.n // 8), max(8, self.n // 4), max(8, self.n // 2), self.n})
        self.fid_curve = fid_vs_n(real_stats, fake_f, ns=ns, bootstrap=4)
        self.curve = replace_figure(self.charts, self.curve, line_figure(self.fid_curve.n, {"FID": self.fid_curve.mean}, t("fid.curve_title"), "N", "FID",
                                 bands={"FID": self.fid_curve.std},
                                 hline=(self.fid_curve.fid_inf, f"FID∞ ≈ {self.fid_curve.fid_inf:.2f}")))
        pts = PCA(n_components=2).fit_transform(np.concatenate([real_f.numpy(), fake_f.numpy()]))
        self.space = replace_figure(self.charts, self.space, scatter_figure(
            {t("fid.real"): pts[: len(real_f)], t("fid.generated"): pts[len(real_f):]}, t("fid.space_title"), ellipses=True))
        return self.fid
