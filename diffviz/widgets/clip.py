"""ClipSimilarity: how CLIP sees generated images and prompts in one embedding space."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import traitlets
from sklearn.decomposition import PCA

from ..metrics.clip_score import ClipScorer
from .base import View, default_model, explain, guarded, heading, image_widget, set_png, tile
from .charts import heatmap_figure, line_figure, replace_figure, scatter_figure
from .i18n import t


class ClipSimilarity(View):
    """Images × prompts cosine similarity, a 2-D projection of both, and CLIP score per denoising step."""

    prompts = traitlets.List(traitlets.Unicode())
    seed = traitlets.Int(0)
    steps = traitlets.Int(30)

    def __init__(self, model=None, prompts=None, run: bool = True):
        super().__init__()
        self.model = default_model(model)
        self.scorer = ClipScorer.from_model(self.model)
        self.prompts = list(prompts or (self.model.meta.get("prompt_examples") or ["a red circle", "a blue square"])[:4])
        self.w_prompts = W.Textarea(value="\n".join(self.prompts), description=t("clip.prompts"),
                                    layout=W.Layout(width="420px", height="100px"))
        self.w_go = W.Button(description=t("clip.run"), button_style="primary")
        self.w_go.on_click(lambda _: self.run())
        self.images_view = image_widget()
        self.heatmap = heatmap_figure(np.zeros((1, 1)), [""], [""], t("clip.matrix_title"))
        self.projection = scatter_figure({}, t("clip.projection_title"))
        self.per_step = line_figure([], {}, t("clip.per_step_title"), t("common.steps"), "CLIP score")
        self.charts = W.HBox([self.heatmap, self.projection])
        self.per_step_box = W.Box([self.per_step])
        self.children = [heading("clip.title"), explain("clip.explain"), self.banner,
                         W.HBox([self.w_prompts, self.w_go]), self.progress, self.images_view,
                         self.charts, self.per_step_box]
        if run:
            self.run()

    @guarded
    def run(self):
        prompts = [p.strip() for p in self.w_prompts.value.splitlines() if p.strip()]
        if not prompts:
            raise ValueError(t("clip.no_prompts"))
        self.prompts = prompts
        traj = self.model.sample(prompts, steps=self.steps, seed=self.seed, callback=self.progress_callback(self.steps))
        self.done()
        self.trajectory = traj
        images = traj.final_images()
        set_png(self.images_view, tile(images), 4)
        self.matrix = self.scorer.similarity(images, prompts)
        self.heatmap = replace_figure(self.charts, self.heatmap, heatmap_figure(
            self.matrix, [f"#{i + 1}" for i in range(len(images))], prompts, t("clip.matrix_title")))
        img_e, txt_e = self.scorer.embed_images(images).numpy(), self.scorer.embed_texts(prompts).numpy()
        both = PCA(n_components=2).fit_transform(np.concatenate([img_e, txt_e])) if len(prompts) > 1 else np.zeros((2 * len(prompts), 2))
        self.projection = replace_figure(self.charts, self.projection, scatter_figure(
            {t("clip.images"): both[: len(images)], t("clip.texts"): both[len(images):]}, t("clip.projection_title"),
            pairs=(both[: len(images)], both[len(images):]),
            labels={t("clip.images"): [f"#{i + 1}" for i in range(len(images))], t("clip.texts"): prompts}))
        self.scores = self.scorer.score_per_step(traj, prompts)
        self.per_step = replace_figure(self.per_step_box, self.per_step, line_figure(
            list(range(1, traj.num_steps + 1)), {p: self.scores[:, j].tolist() for j, p in enumerate(prompts)},
            t("clip.per_step_title"), t("common.steps"), "CLIP score"))
