"""ClipSimilarity: how CLIP sees generated images and prompts in one embedding space."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import traitlets

from ..metrics import pca_2d
from ..metrics.clip_score import ClipScorer
from ..models.defaults import example_prompts
from .base import WIDE, View, button, default_model, explain, heading, heavy, notice, set_png, tile, image_widget
from ..errors import DiffvizError
from .base import Int  # numpy scalars are numbers
from .charts import heatmap_figure, line_figure, replace_figure, scatter_figure
from .i18n import tr


class ClipSimilarity(View):
    """Images × prompts cosine similarity, a 2-D projection of both, and CLIP score per denoising step."""

    prompts = traitlets.List(traitlets.Unicode())
    seed = Int(0)
    steps = Int(30)

    def __init__(self, model=None, prompts=None, run: bool = True, clip=None):
        """clip: the CLIP that scores, for a model whose text encoder is CLIP's text half only (Stable Diffusion):
        a local transformers CLIP folder, a (CLIPModel, CLIPTokenizer) pair or a ClipScorer."""
        super().__init__()
        self.model = default_model(model)
        if clip is None:
            self.scorer = ClipScorer.from_model(self.model)
        elif isinstance(clip, ClipScorer):
            self.scorer = clip
        else:
            from ..metrics.clip_score import load_transformers_clip

            self.scorer = load_transformers_clip(clip, device=self.model.device)
        self.prompts = list(prompts or example_prompts(self.model, 4))
        self.w_prompts = W.Textarea(value="\n".join(self.prompts), description=tr("clip.prompts"), style=WIDE,
                                    layout=W.Layout(width="420px", max_width="100%", height="100px"))
        self.observe(lambda c: setattr(self.w_prompts, "value", "\n".join(c["new"])), "prompts")  # set from code: shown, and run
        self.w_go = button("clip.run", primary=True)
        self.w_go.on_click(lambda _: self.submit(self.run))
        self.images_box = W.Box([W.HTML(f"<i style='color:#555'>{tr('clip.placeholder')}</i>")])
        self.images_view = None
        self.heatmap = heatmap_figure(np.zeros((1, 1)), [""], [""], tr("clip.matrix_title"))
        self.projection = scatter_figure({}, tr("clip.projection_title"))
        self.per_step = line_figure([], {}, tr("clip.per_step_title"), tr("common.steps"), tr("common.clip_score"))
        self.charts = W.HBox([self.heatmap, self.projection], layout=W.Layout(width="100%", flex_flow="row wrap"))
        self.per_step_box = W.Box([self.per_step])
        self.per_step_caption = W.HTML(f"<p style='max-width:56em;color:#333;margin:2px 0'>{tr('clip.per_step_caption')}</p>")
        self.children = [heading("clip.title"), explain("clip.explain"), notice("clip.notice"), self.banner,
                         W.HBox([self.w_prompts, self.w_go], layout=W.Layout(flex_flow="row wrap", align_items="flex-start")),
                         self.progress, self.images_box, self.charts, self.per_step_caption, self.per_step_box]
        if run:  # on the worker thread: the view shows now with its progress bar
            self.submit(self.run)

    @heavy
    def run(self):
        prompts = [p.strip() for p in self.w_prompts.value.splitlines() if p.strip()]
        if not prompts:
            raise DiffvizError(tr("clip.no_prompts"))
        self.prompts = prompts
        traj = self.model.sample(prompts, steps=self.steps, seed=self.seed, callback=self.progress_callback(self.steps))
        self.done()
        self.trajectory = traj
        images = traj.final_images()
        if self.images_view is None:
            self.images_view = image_widget()
            self.images_view.layout.max_width, self.images_view.layout.height = "100%", "auto"
            self.images_box.children = [self.images_view]
        set_png(self.images_view, tile(images), 4)
        names = [f"#{i + 1}" for i in range(len(images))]
        self.matrix = self.scorer.similarity(images, prompts)
        self.heatmap = replace_figure(self.charts, self.heatmap, heatmap_figure(
            self.matrix, names, prompts, tr("clip.matrix_title")))
        img_2d, txt_2d = pca_2d(self.scorer.embed_images(images), self.scorer.embed_texts(prompts))
        self.projection = replace_figure(self.charts, self.projection, scatter_figure(
            {tr("clip.images"): img_2d, tr("clip.texts"): txt_2d}, tr("clip.projection_title"),
            pairs=(img_2d, txt_2d), labels={tr("clip.images"): names, tr("clip.texts"): prompts}))
        self.scores = self.scorer.score_per_step(traj, prompts)
        self.per_step = replace_figure(self.per_step_box, self.per_step, line_figure(
            list(range(1, traj.num_steps + 1)), {p: self.scores[:, j].astype(float).tolist() for j, p in enumerate(prompts)},
            tr("clip.per_step_title"), tr("common.steps"), tr("common.clip_score")))
