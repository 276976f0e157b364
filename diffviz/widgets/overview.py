"""PipelineOverview: the whole model on one line of boxes — each box opens the tab that explains it.

Text models: prompt → tokens → text encoder → generator (looping over t) → decoder → image.
Class models: class → embedding → generator (looping over t) → image. Unconditional: noise → generator → image.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as W

from .i18n import tr

# (label key, caption key, tab it opens) per box, by model kind
BOXES = {
    "text": [("prompt", "prompt_caption", "compare_prompts"), ("tokens", "tokens_caption", "wordmaps"),
             ("text_encoder", "text_encoder_caption", "latent"), ("generator", "generator_caption", "reverse"),
             ("decoder", "decoder_caption", "latent"), ("image", "image_caption", "clip")],
    "class": [("class", "class_caption", "guidance"), ("embedding", "embedding_caption", "noise"),
              ("generator", "generator_caption", "reverse"), ("image", "image_caption", "fid")],
    "uncond": [("noise", "noise_caption", "forward"), ("generator", "generator_caption", "reverse"),
               ("image", "image_caption", "fid")],
}
# smaller links under the generator: what happens inside its loop
INSIDE = [("forward", "forward"), ("noise_predictor", "noise"), ("guidance", "guidance"), ("schedulers", "schedulers")]


class PipelineOverview(W.VBox):
    """One row of boxes (buttons) with arrows; `open(tab)` is called with the tab a box stands for."""

    def __init__(self, kind: str, open: Callable[[str], object], tabs: list[str]):
        super().__init__()
        self.add_class("dv-overview")
        self.boxes: dict[str, W.Button] = {}
        row = []
        for i, (label, caption, tab) in enumerate(BOXES.get(kind, BOXES["uncond"])):
            if tab not in tabs:
                continue
            if row:
                row.append(W.HTML("<div class='dv-arrow'>→</div>"))
            b = W.Button(description=tr(f"overview.{label}"), tooltip=tr("overview.opens", tab=tr(f"explainer.{tab}")),
                         layout=W.Layout(width="auto", min_width="7em"))
            b.add_class("dv-box")
            b.on_click(lambda _, tab=tab: open(tab))
            self.boxes[label] = b
            cell = [b, W.HTML(f"<div class='dv-box-caption'>{tr(f'overview.{caption}')}</div>")]
            if label == "generator":
                links = []
                for key, inner_tab in INSIDE:
                    if inner_tab in tabs:
                        link = W.Button(description=tr(f"overview.{key}"), layout=W.Layout(width="auto"))
                        link.add_class("dv-box-link")
                        link.on_click(lambda _, tab=inner_tab: open(tab))
                        self.boxes[key] = link
                        links.append(link)
                cell.append(W.VBox(links, layout=W.Layout(align_items="center")))
                b.add_class("dv-box-loop")
            row.append(W.VBox(cell, layout=W.Layout(align_items="center", width="auto")))
        self.children = [W.HTML(f"<p class='dv-overview-intro'>{tr('overview.intro')}</p>"),
                         W.HBox(row, layout=W.Layout(flex_flow="row wrap", align_items="flex-start", max_width="100%"))]
