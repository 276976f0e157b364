"""LatentParts: Stable Diffusion's three separately trained parts, one at a time.

Text encoder (prompt → token states), generator (denoises a small latent picture), decoder
(latent → image). The view shows what each part takes and gives for one prompt and one image.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..diffusion.trajectory import to_uint8_image, to_uint8_noise
from ..models.defaults import example_prompts
from ..models.token_rows import token_rows
from .base import WIDE, View, default_model, explain, guarded, heading, image_widget, notice, zoom_for
from ..errors import DiffvizError
from .base import Int  # numpy scalars are numbers
from .charts import heatmap_figure, replace_figure, swap
from .i18n import tr
from ..data.domain import data_image
from .noise import check_example


class LatentParts(View):
    """Prompt → text encoder → token states; image → encoder → latent → decoder → image."""

    prompt = traitlets.Unicode("")
    index = Int(0)

    def __init__(self, model=None, zoom: int | None = None):
        super().__init__()
        self.model = default_model(model)
        if not self.model.latent or self.model.kind != "text":
            raise DiffvizError(tr("latent.needs_latent"))
        self.zoom = zoom or zoom_for(self.model.image_shape[-1])
        self.prompt = example_prompts(self.model, 1)[0]
        self.w_prompt = W.Text(description=tr("common.prompt"), layout=W.Layout(width="420px", max_width="100%"), style=WIDE)
        self.w_index = W.IntText(description=tr("noise.example"), layout=W.Layout(width="180px"), style=WIDE)
        self.bind("prompt", self.w_prompt)
        self.bind("index", self.w_index)
        self.tokens = W.HTML()
        self.states_box = W.Box()
        self.resampler = W.HTML(layout=W.Layout(display="none"))
        self.pictures = W.HBox()
        self.quality = W.HTML()
        unet = self.model.unet.config
        self.generator = W.HTML(tr("latent.generator_text", shape="×".join(map(str, self.model.sample_shape)),
                                  cross=unet.cross_attention_dim, params=sum(p.numel() for p in self.model.unet.parameters()) / 1e6))
        if self.model.meta.get("source") == "diffusers":  # the bundled model's notice quotes its own sizes
            c, h, w = self.model.sample_shape
            about = notice("latent.notice_any", latent=f"{c}×{h}×{w}", image="×".join(map(str, self.model.image_shape)),
                           ratio=np.prod(self.model.image_shape) / (c * h * w))
        else:
            about = notice("latent.notice")
        self.children = [heading("latent.title"), explain("latent.explain"), about, self.banner,
                         heading("latent.text_encoder"), self.w_prompt, self.tokens, self.states_box, self.resampler,
                         heading("latent.generator"), self.generator, heading("latent.decoder"), self.w_index, self.pictures, self.quality]
        self._ready = True
        self.refresh()

    _check_index = traitlets.validate("index")(lambda self, proposal: check_example(self.model, proposal["value"]))

    @traitlets.observe("prompt", "index")
    def _changed(self, change):
        if getattr(self, "_ready", False):
            self.refresh()

    @guarded
    @torch.no_grad()
    def refresh(self):
        rows = token_rows(self.model.conditioner, self.prompt)  # the model's own encoder and tokenizer
        self.token_labels = rows.labels
        text = tr("latent.tokens", n=rows.n_tokens, L=rows.context_length) + " " + " | ".join(rows.labels)
        if max(rows.sizes) > 1:  # byte-level BPE: a Chinese character is 2–3 tokens
            text += " · " + tr("latent.byte_tokens")
        self.tokens.value = html.escape(text)
        self.token_states = rows.states
        seen: dict[str, int] = {}
        names = []  # a repeated character keeps its own row (a chart merges equal row names)
        for label in rows.labels:
            seen[label] = seen.get(label, 0) + 1
            names.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
        title = tr("latent.states_title" if rows.generator_rows else "latent.states_title_encoder")
        self.states = replace_figure(self.states_box, getattr(self, "states", None), heatmap_figure(
            self.token_states, names, list(range(self.token_states.shape[1])), title, cosine=False))
        self.resampler.value = "" if rows.generator_rows else html.escape(tr(
            "latent.resampler", rows=self.model.conditioner.output_length, width=self.model.conditioner.width))
        self.resampler.layout.display = "none" if rows.generator_rows else ""
        x0, _ = data_image(self.model, self.index)
        x = x0[None].to(self.model.device)
        self.latent = self.model.encode_images(x)
        recon = self.model.decode_latents(self.latent)
        mse = float(((recon.cpu() - x0[None]) ** 2).mean())
        psnr = 10 * np.log10(4.0 / max(mse, 1e-12))  # images span [-1, 1]: peak-to-peak 2
        self.psnr = psnr
        items = [(tr("latent.image"), to_uint8_image(x0), self.zoom),
                 (tr("latent.latent", shape="×".join(map(str, self.latent.shape[1:]))), to_uint8_noise(self.latent[0].cpu()),
                  self.zoom * self.model.image_shape[-1] // self.latent.shape[-1]),
                 (tr("latent.decoded"), to_uint8_image(recon[0].cpu()), self.zoom)]
        swap(self.pictures, [W.VBox([W.HTML(f"<b>{name}</b>"), image_widget(img, z)]) for name, img, z in items])
        self.quality.value = tr("latent.psnr", psnr=psnr, ratio=x0.numel() / self.latent[0].numel())
